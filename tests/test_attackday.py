"""When the attack was: a span from a report's own words and its time."""

from datetime import datetime, timezone

from monitor.attackday import attack_span

# Wednesday 17 January 2024, 09:00 UTC
REPORTED = datetime(2024, 1, 17, 9, 0, tzinfo=timezone.utc)


def _day(title, text=""):
    span = attack_span(title, text, REPORTED)
    return span.exact, (span.start + (span.end - span.start) / 2).date().isoformat()


def test_a_named_weekday_is_the_last_such_day():
    assert _day("Rockets hit base on Monday") == (True, "2024-01-15")
    assert _day("Drone attack early Wednesday") == (True, "2024-01-17")
    assert _day("Sunday's attack wounded two") == (True, "2024-01-14")


def test_dates_and_relative_words():
    assert _day("Rockets hit base", "The attack on Jan. 8 wounded two.") == (True, "2024-01-08")
    assert _day("Rockets hit base", "the 8 January missile attack") == (True, "2024-01-08")
    assert _day("Base attacked yesterday") == (True, "2024-01-16")
    exact, _ = _day("Drone hits base overnight")
    assert not exact  # the night before or the early hours of the day


def test_a_date_late_in_the_year_read_in_january_is_last_year():
    assert _day("Rockets hit base", "on Dec. 30 rockets hit the base") == (True, "2023-12-30")


def test_no_words_guess_the_day_before_the_report():
    span = attack_span("Rockets hit US base in Syria", "", REPORTED)
    assert not span.exact and span.end == REPORTED and (REPORTED - span.start).days == 1


def test_the_headline_wins_and_a_weekday_naming_an_occasion_is_not_a_day():
    assert _day("Drone attack on Monday", "Officials said on Tuesday ...") == (True, "2024-01-15")
    assert _day("Leader's Friday sermon", "after the 8 January missile attacks") == (True, "2024-01-08")


def test_two_days_in_a_row_are_apart_but_the_same_day_overlaps():
    monday = attack_span("on Monday", "", REPORTED)
    tuesday = attack_span("on Tuesday", "", REPORTED)
    assert not monday.overlaps(tuesday)
    assert monday.overlaps(attack_span("late Monday", "", REPORTED))


def test_last_week_is_well_before_the_report():
    span = attack_span("Pentagon on the attack last week", "", REPORTED)
    assert (REPORTED - span.end).days >= 1
