from monitor.text import fold


def test_fold_joins_spelling_variants():
    assert fold("Kata'ib Hizballah") == "kataib hizballah"
