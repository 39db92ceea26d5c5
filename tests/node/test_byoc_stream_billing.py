"""node.core.byoc.StreamBilling: go's monitorOrchStream rule, sans-I/O."""
from fractions import Fraction

from node.core.byoc import StreamBilling


def test_first_negative_balance_warns_and_the_next_one_stops():
    b = StreamBilling()
    assert b.after_debit(Fraction(5)) == b.OK
    assert b.after_debit(None) == b.OK  # no balance yet counts as 0
    assert b.after_debit(Fraction(-1, 3)) == b.WARN
    assert b.after_debit(Fraction(-1)) == b.STOP


def test_the_warning_is_never_forgotten_as_in_go():
    b = StreamBilling()
    assert b.after_debit(Fraction(-1)) == b.WARN
    assert b.after_debit(Fraction(100)) == b.OK  # topped up
    assert b.after_debit(Fraction(0)) == b.OK
    assert b.after_debit(Fraction(-1)) == b.STOP  # no second warning
