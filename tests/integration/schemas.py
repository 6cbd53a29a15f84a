"""The schemas under schemas/ for python3 jsonschema, as test_schemas.sh and test_funnel.sh
use them: load(root) reads every schema by its path, validator(schema, docs) gives a
Draft 2020-12 validator that resolves the schemas' relative $refs ("cloudevent.json#/...")
among docs by their $id, never over the network.

With jsonschema >= 4.18 that is a referencing.Registry; older ones (Debian 12 has 4.10,
without the referencing package) take a RefResolver over the same documents instead, so
CI on Debian's own python3-jsonschema validates too. `python3 schemas.py` exits 0 when
either works (the tests' check before they validate) and prints which.
"""
import json
import os
import sys

from jsonschema import Draft202012Validator

try:
    from referencing import Registry, Resource
except ImportError:  # jsonschema < 4.18
    Registry = None


def load(root):
    """Every schema under root, by its path relative to root."""
    docs = {}
    for d, _, names in os.walk(root):
        for n in names:
            if n.endswith(".json"):
                p = os.path.join(d, n)
                with open(p, encoding="utf-8") as fh:
                    docs[os.path.relpath(p, root)] = json.load(fh)
    return docs


def validator(schema, docs):
    """A validator of schema whose $refs resolve among docs (all the schemas, by $id)."""
    by_id = {s["$id"]: s for s in docs.values() if "$id" in s}
    if Registry is not None:
        registry = Registry().with_resources(
            [(i, Resource.from_contents(s)) for i, s in by_id.items()])
        return Draft202012Validator(schema, registry=registry)
    from jsonschema import RefResolver  # deprecated since 4.18, the only way before it
    return Draft202012Validator(schema, resolver=RefResolver.from_schema(schema, store=by_id))


if __name__ == "__main__":
    print("referencing" if Registry is not None else "RefResolver (jsonschema < 4.18)")
    sys.exit(0)
