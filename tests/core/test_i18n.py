from cityloop.core import i18n


def test_accept_language_picks_english_or_chinese() -> None:
    assert i18n.from_accept_language("en-US,en;q=0.9") == "en"
    assert i18n.from_accept_language("zh-CN,zh;q=0.9,en;q=0.5") == "zh-CN"
    assert i18n.from_accept_language("fr-FR") is None


def test_every_english_key_exists_in_chinese_and_back() -> None:
    zh, en = i18n.catalogue("zh-CN"), i18n.catalogue("en")
    assert set(zh) - set(en) == set()
    assert set(en) - set(zh) == set()


def test_placeholders_are_filled_and_missing_keys_fall_back_to_the_key() -> None:
    assert "5" in i18n.translate("error.login_wait_minutes", "en", minutes=5, time="12:00:00")
    assert i18n.translate("no.such.key", "en") == "no.such.key"
