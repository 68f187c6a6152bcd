"""The page's one catalogue of words, in English and 中文.

Every message lives in gradviz/page/text/<area>.toml, both languages side by side, so a translator
reads them together:

    [no_header]                       # message id "run.no_header" (file run.toml)
    en = "Line {line} has no header."
    zh = "第 {line} 行没有表头。"

A dotted table name nests: [section.chain] in page.toml is the message "page.section.chain".

Placeholders are {name} with name an identifier; any other brace (LaTeX's a_{j-1}) is text. Both languages
must use the same placeholders (a test checks it).
A plain dict keyed by message id, rather than gettext or Babel: two languages, no plural forms that
need rules (the page writes counts as numerals), no compile step, and the catalogue stays one
readable file per section.
"""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from importlib.resources import files

LANGUAGES = ("en", "zh")
DEFAULT_LANGUAGE = "en"


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """{message id: {"en": text, "zh": text}} from every area file."""
    messages: dict[str, dict[str, str]] = {}
    for resource in sorted(files("gradviz.page").joinpath("text").iterdir(), key=lambda r: r.name):
        if not resource.name.endswith(".toml"):
            continue
        area = resource.name.removesuffix(".toml")
        _flatten(area, tomllib.loads(resource.read_text(encoding="utf-8")), messages)
    return messages


def _flatten(path: str, table: dict, messages: dict) -> None:
    """Messages from a TOML table: its string values are a message's languages, its sub-tables more messages
    ([settings.depth] is message "settings.depth", [settings.depth.help] message "settings.depth.help")."""
    texts = {key: value for key, value in table.items() if isinstance(value, str)}
    if texts:
        messages[path] = texts
    for key, value in table.items():
        if isinstance(value, dict):
            _flatten(f"{path}.{key}", value, messages)


PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(template: str) -> set[str]:
    """The names of the {name} placeholders in a template."""
    return set(PLACEHOLDER.findall(template))


def fill(template: str, params: dict) -> str:
    """The template with each {name} that params names replaced by its value; every other brace kept."""
    return PLACEHOLDER.sub(lambda m: str(params[m.group(1)]) if m.group(1) in params else m.group(0), template)


MARKUP = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$~:&\"'=^@%/])")


def plain(text: str) -> str:
    """Words from a user (a column name, a layer name) made safe to place in Markdown that Streamlit renders
    (st.markdown, st.caption, st.error, st.table cells): every ASCII punctuation mark is backslash-escaped, as
    CommonMark allows, so none of it starts emphasis, a link, an HTML tag, LaTeX ($) or a Streamlit directive
    (:red[…], :material/…:); line breaks become spaces. The text reads exactly as written."""
    return MARKUP.sub(r"\\\1", " ".join(str(text).splitlines()))


def language_of(locale: str | None) -> str:
    """The page language for a browser locale such as 'zh-CN' or 'en-US' (English for anything else)."""
    if locale and locale.lower().startswith("zh"):
        return "zh"
    return DEFAULT_LANGUAGE


def t(key: str, lang: str, **params) -> str:
    """The message `key` in `lang`, its placeholders filled from params."""
    return fill(catalogue()[key][lang], params)


class Words:
    """The catalogue bound to one language: words("run.no_header", line=3)."""

    def __init__(self, lang: str):
        if lang not in LANGUAGES:
            raise ValueError(f"lang must be one of {LANGUAGES}, not {lang!r}")
        self.lang = lang

    def __call__(self, key: str, **params) -> str:
        return t(key, self.lang, **params)
