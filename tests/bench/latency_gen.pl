# latency_gen.pl — CloudEvents produced live at a steady rate for tests/bench/latency.sh,
# each stamped with the wall time it is written at (NDJSON on stdout, for
# `leakwatch produce -`). Core Perl only (Time::HiRes), so that it keeps the pace cheaply.
#   perl latency_gen.pl RATE SECONDS TENANT ANSWER_S TASK_DUE_S
# The stream is a repetition of units of 6 events (one every 1/RATE s):
#   0 lead.created A      answered ANSWER_S later (slot 4 of a later unit): no deadline
#   1 lead.created B      never answered: lead.callback_due and lead.idle fall due
#   2 task.created X      due TASK_DUE_S later, completed ANSWER_S later (slot 5): no deadline
#   3 task.created Y      due TASK_DUE_S later, left open: task.overdue falls due
#   4 call.completed      outbound, answered, to the A of ANSWER_S ago
#   5 task.completed      the X of ANSWER_S ago
# ANSWER_S must stay below the tenant's call-back threshold and TASK_DUE_S. On stderr at the
# end: the deadlines that fall due ("expected lead.callback_due N" ...), A leads whose
# answer fell after the end included.
use strict;
use warnings;
use POSIX qw(strftime);
use Time::HiRes qw(time sleep);

my ($rate, $seconds, $tenant, $answer_s, $due_s) = @ARGV;
die "usage: latency_gen.pl RATE SECONDS TENANT ANSWER_S TASK_DUE_S\n" unless defined $due_s;
my $total = int($rate * $seconds);
my $lag_units = int($rate * $answer_s / 6);    # units between an A (an X) and its answer

sub iso {
    my ($t) = @_;
    my $ms = int($t * 1000) % 1000;
    return strftime("%Y-%m-%dT%H:%M:%S", gmtime(int($t))) . sprintf(".%03dZ", $ms);
}

sub event {
    my ($id, $type, $now, $data) = @_;
    my $fields = join(",", map { "\"$_->[0]\":\"$_->[1]\"" } @$data);
    return "{\"specversion\":\"1.0\",\"id\":\"$id\",\"type\":\"$type\",\"source\":\"bench/latency\","
      . "\"time\":\"" . iso($now) . "\",\"tenant\":\"$tenant\",\"data\":{$fields}}\n";
}

sub phone { return sprintf("+7701%07d", $_[0]) }

# The event of slot I (unit U = I / 6) written at NOW.
sub slot {
    my ($i, $now) = @_;
    my ($u, $k) = (int($i / 6), $i % 6);
    my $a = "LA$u";
    return event("e$i", "lead.created", $now,
        [[lead_id => $a], [phone => phone(2 * $u)], [channel => "form"], [manager_id => "m" . $u % 7]])
      if $k == 0;
    return event("e$i", "lead.created", $now,
        [[lead_id => "LB$u"], [phone => phone(2 * $u + 1)], [channel => "whatsapp"], [manager_id => "m" . $u % 7]])
      if $k == 1;
    return event("e$i", "task.created", $now,
        [[task_id => "TX$u"], [due_at => iso($now + $due_s)], [kind => "call"]])
      if $k == 2;
    return event("e$i", "task.created", $now,
        [[task_id => "TY$u"], [due_at => iso($now + $due_s)], [kind => "call"]])
      if $k == 3;
    my $v = $u - $lag_units;
    return "" if $v < 0;
    return event("e$i", "call.completed", $now,
        [[call_id => "C$v"], [direction => "outbound"], [status => "answered"], [phone => phone(2 * $v)],
         [lead_id => "LA$v"]])
      if $k == 4;
    return event("e$i", "task.completed", $now, [[task_id => "TX$v"]]);
}

my %n;    # events written per slot kind
my $t0 = time;
my $i = 0;
while ($i < $total) {
    my $now = time;
    my $due = int(($now - $t0) * $rate);
    $due = $total if $due > $total;
    my $out = "";
    while ($i < $due) {
        my $e = slot($i, $now);
        $n{ $i % 6 }++ if $e ne "";
        $i++;
        $out .= $e;
    }
    print $out;
    STDOUT->flush();
    sleep(0.005);
}
# every B lead, and every A lead whose answer fell after the end; every Y task and every X
# task whose completion fell after the end
my $unanswered = ($n{1} // 0) + ($n{0} // 0) - ($n{4} // 0);
print STDERR "expected lead.callback_due $unanswered\n";
print STDERR "expected lead.idle $unanswered\n";
print STDERR "expected task.overdue ", ($n{3} // 0) + ($n{2} // 0) - ($n{5} // 0), "\n";
my $written = 0;
$written += $_ for values %n;
printf STDERR "produced %d events in %.1f s\n", $written, time - $t0;
