"""Stored reasons are a code plus parameters, rendered in the reader's language."""
from __future__ import annotations

import pytest

from bridge import reasons

reasons.register({"test.pays": reasons.N_("%(amount)s pays order %(number)s"),
                  "test.wrapped": reasons.N_("not genuine: %(why)s"),
                  "test.status.returned": reasons.N_("returned to the shop")})
VI = {"%(amount)s pays order %(number)s": "%(amount)s trả cho đơn %(number)s",
      "not genuine: %(why)s": "không thật: %(why)s", "returned to the shop": "đã hoàn về shop"}


def test_a_reason_is_rendered_in_the_readers_language_and_nested_reasons_too():
    inner = reasons.encode("test.pays", amount="513.000đ", number="27")
    outer = reasons.encode("test.wrapped", why=inner)
    assert reasons.english(outer) == "not genuine: 513.000đ pays order 27"
    assert reasons.render(outer, lambda s: VI.get(s, s)) == "không thật: 513.000đ trả cho đơn 27"
    assert reasons.code_of(outer) == "test.wrapped"


def test_a_stored_code_is_a_word_in_the_readers_language_or_itself_when_it_has_none():
    known = reasons.encode("test.wrapped", why=reasons.word("test.status.returned", "returned"))
    assert reasons.render(known, lambda s: VI.get(s, s)) == "không thật: đã hoàn về shop"
    plugin = reasons.encode("test.wrapped", why=reasons.word("test.status.wc-shipping", "wc-shipping"))
    assert reasons.render(plugin, lambda s: VI.get(s, s)) == "không thật: wc-shipping"


def test_plain_text_and_unknown_codes_are_shown_as_they_are():
    assert reasons.render("timeout talking to eSMS") == "timeout talking to eSMS"
    assert reasons.render('{"code":"from.a.newer.version","p":{"n":1}}') == 'from.a.newer.version {"n": 1}'
    assert reasons.render(None) == ""


def test_a_broken_translation_falls_back_to_english():
    stored = reasons.encode("test.pays", amount="1đ", number="2")
    assert reasons.render(stored, lambda s: "%(nope)s") == "1đ pays order 2"


def test_codes_are_registered_once_and_must_be_known_to_be_written():
    with pytest.raises(ValueError):
        reasons.register({"test.pays": "something else"})
    with pytest.raises(KeyError):
        reasons.encode("test.never.registered")


def test_text_from_outside_that_looks_like_a_reason_is_shown_as_text_and_never_breaks_a_page():
    # a provider's error text is a parameter: whatever it holds, the page renders
    reasons.register({"test.provider": reasons.N_("the provider said: %(detail)s")})
    forged = '{"code":"test.pays","p":{}}'   # a registered code without its parameters
    stored = reasons.encode("test.provider", detail='{"code":"ERR","p":{"x":1}}')
    assert reasons.english(stored) == 'the provider said: {"code":"ERR","p":{"x":1}}'
    assert reasons.english(reasons.encode("test.provider", detail=forged)).startswith("the provider said: test.pays")
    assert reasons.render(forged) == "test.pays {}"
    deep = reasons.encode("test.wrapped", why=reasons.encode("test.wrapped", why=reasons.encode(
        "test.wrapped", why=reasons.encode("test.wrapped", why=reasons.encode("test.pays", amount="1đ", number="2")))))
    assert reasons.english(deep).startswith("not genuine: not genuine: not genuine: not genuine:")
