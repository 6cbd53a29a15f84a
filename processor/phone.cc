/* phone.cc — phone numbers to E.164 with Google's libphonenumber: the one C++ file of leakwatch.
 *
 * A thin extern "C" shim: no C++ type crosses it and no exception escapes it. The declaration
 * lives in leakwatch.h (section phone.cc, normalize.c); it is repeated here rather than including
 * that header, which is C and need not stay valid C++.
 *
 * A number is accepted only when libphonenumber calls it valid (its prefix belongs to a real
 * range of its country, e.g. mobile, fixed line, toll-free), not merely possible (right length):
 * a "possible" +7 number may be 14 digits long, and "1111111111" is possible in RU. A number that
 * is not trusted is not a phone, and the lead is then deduplicated on e-mail only.
 */
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <cctype>
#include <cstring>
#include <memory>
#include <string>

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

extern "C" bool lw_phone_normalize(const char *raw, const char *default_region, char *out,
                                   size_t outlen);

namespace
{

/* "kz" → "KZ"; NULL, empty or not two letters → "ZZ" (unknown: only numbers with a + parse). */
std::string region_code(const char *r)
{
    if (!r || std::strlen(r) != 2 || !std::isalpha((unsigned char)r[0]) ||
        !std::isalpha((unsigned char)r[1]))
        return "ZZ";
    std::string s(r);
    for (char &c : s)
        c = (char)std::toupper((unsigned char)c);
    return s;
}

/* Parses and validates; the extension is dropped (the same line with and without it is the same
 * client). */
bool parse_valid(const PhoneNumberUtil &util, const std::string &raw, const std::string &region,
                 PhoneNumber *num)
{
    if (util.Parse(raw, region, num) != PhoneNumberUtil::NO_PARSING_ERROR)
        return false;
    num->clear_extension();
    return util.IsValidNumber(*num);
}

/* "00 91 98765 43210" → "+91 98765 43210", else "". 00 is the international prefix in most of
 * the world and what people type in RU/KZ too, whose metadata only knows 8~10. */
std::string double_zero_as_plus(const std::string &raw)
{
    size_t i = 0;
    while (i < raw.size() && (std::isspace((unsigned char)raw[i]) || raw[i] == '('))
        i++;
    if (raw.compare(i, 2, "00") != 0)
        return std::string();
    return "+" + raw.substr(i + 2);
}

/* The numbers normalized last, by region and raw text: a lead's phone comes back with its
 * calls and updates, and libphonenumber's regular expressions were a fifth of the processor's
 * work. Direct-mapped (a slot per hash, the newest wins); per thread, so no lock. */
struct cached_number {
    char key[48]; /* region, then the raw text; "" when the slot is empty */
    bool ok;
    char e164[24];
};
constexpr size_t CACHE_SLOTS = 4096;
thread_local std::unique_ptr<cached_number[]> cache;

cached_number *cache_slot(const std::string &key)
{
    if (key.size() >= sizeof(cached_number::key))
        return nullptr;
    if (!cache)
        cache.reset(new cached_number[CACHE_SLOTS]());
    uint32_t h = 2166136261u; /* FNV-1a */
    for (unsigned char c : key)
        h = (h ^ c) * 16777619u;
    return &cache[h % CACHE_SLOTS];
}

bool normalize_uncached(const char *raw, const char *default_region, std::string *e164);

} // namespace

extern "C" bool lw_phone_normalize(const char *raw, const char *default_region, char *out,
                                   size_t outlen)
{
    if (!out || outlen == 0)
        return false;
    out[0] = '\0';
    if (!raw)
        return false;
    try {
        const std::string key = region_code(default_region) + raw;
        cached_number *slot = cache_slot(key);
        std::string e164;
        bool ok;
        if (slot && std::strcmp(slot->key, key.c_str()) == 0) {
            ok = slot->ok;
            e164 = slot->e164;
        } else {
            ok = normalize_uncached(raw, default_region, &e164);
            if (slot && e164.size() < sizeof(slot->e164)) {
                std::memcpy(slot->key, key.c_str(), key.size() + 1);
                slot->ok = ok;
                std::memcpy(slot->e164, e164.c_str(), e164.size() + 1);
            }
        }
        if (!ok || e164.size() >= outlen)
            return false;
        std::memcpy(out, e164.c_str(), e164.size() + 1);
        return true;
    } catch (...) {
        out[0] = '\0';
        return false;
    }
}

namespace
{

/* E.164 of raw read in default_region, or false. */
bool normalize_uncached(const char *raw, const char *default_region, std::string *e164)
{
    e164->clear();
    try {
        const PhoneNumberUtil &util = *PhoneNumberUtil::GetInstance();
        const std::string input(raw), region = region_code(default_region);
        PhoneNumber num;
        if (!parse_valid(util, input, region, &num)) {
            /* Only when the region's own reading gave nothing valid: 00 as the + of an
             * international number ("0077011234567" with KZ, whose prefix is 810). */
            const std::string plus = double_zero_as_plus(input);
            num.Clear();
            if (plus.empty() || !parse_valid(util, plus, region, &num))
                return false;
        }
        util.Format(num, PhoneNumberUtil::E164, e164);
        if (e164->size() < 2 || (*e164)[0] != '+') {
            e164->clear();
            return false;
        }
        return true;
    } catch (...) {
        e164->clear();
        return false;
    }
}

} // namespace
