"""Vietnamese terms of the pronunciation corpus (issue 20): invented person names, places and
organisations, none of them an evaluation hotword, spoken by espeak-ng's Vietnamese voices.

- **person** names: a family name (họ, drawn by its share of the population: Nguyễn about
  four in ten), a middle name (đệm, most names have one; "Văn", "Thị", "Ngọc") and a given name
  (tên, now and then two syllables): "Nguyễn Văn An", "Trần Thị Thu Hà", "Lê Minh".
- **place** names: a root, either a capitalized two-syllable proper name of underthesea's Viet74K
  word list (its communes, districts and mountains: "Bà Đen", "Tân Hương", "Chư Gu") or two
  place-name syllables ("Hòa Lạc"), alone ("Hồ Tràm") or after a place noun ("xã Tân Hương",
  "huyện Bình Lăng", "hồ Trà Leng", "núi Vĩnh Phước").
- **organisation** names: an institution noun and a brand root of two auspicious syllables, or a
  place root ("Công ty Hòa Phát", "Ngân hàng Vạn Thịnh", "Bệnh viện Tân Hương").

Every syllable is a Vietnamese syllable of Viet74K (``workbench.text.lid.vietnamese_syllables``;
the tests check the inventories). espeak-ng reads the written form, so a term's spoken form is
its text (NFC). Each category is its own seeded stream, interleaved by the configured shares like
the English and Mandarin categories (``terms.interleave``): a smaller size's terms are a prefix
of a larger one's, and the same ``terms.Exclusion`` blocks a term that equals, contains or is
contained in an evaluation hotword.
"""

from __future__ import annotations

import functools
import random
import unicodedata
from collections.abc import Iterator, Mapping

from workbench.retrieval.pronunciations.terms import Exclusion, Term, TermSelection, interleave

PERSON, PLACE, ORGANISATION = "person", "place", "organisation"
VIETNAMESE_CATEGORIES = (PERSON, PLACE, ORGANISATION)

# family names and their rough shares of the population (percent)
FAMILY_NAMES = {
    "Nguyễn": 38.0, "Trần": 11.0, "Lê": 9.5, "Phạm": 7.0, "Hoàng": 5.1, "Huỳnh": 5.1, "Phan": 4.5, "Vũ": 3.9,
    "Võ": 3.9, "Đặng": 2.1, "Bùi": 2.0, "Đỗ": 1.4, "Hồ": 1.3, "Ngô": 1.3, "Dương": 1.0, "Lý": 0.5, "Đinh": 0.5,
    "Trương": 0.5, "Đào": 0.4, "Lâm": 0.4, "Mai": 0.4, "Trịnh": 0.4, "Cao": 0.3, "Lưu": 0.3, "Tạ": 0.3,
    "Hà": 0.3, "Lương": 0.3, "Tô": 0.2, "Quách": 0.2, "Châu": 0.2, "Kiều": 0.2, "Thái": 0.2, "Văn": 0.1,
    "Triệu": 0.1, "Tôn": 0.1, "Vương": 0.1, "Khổng": 0.1, "Mạc": 0.1, "Lạc": 0.1, "Thân": 0.1,
}
MALE_MIDDLE = ("Văn", "Đức", "Hữu", "Minh", "Quốc", "Thanh", "Xuân", "Công", "Quang", "Hoàng", "Gia", "Bảo",
               "Trung", "Tuấn", "Anh", "Duy", "Thế", "Đình", "Ngọc", "Mạnh", "Trọng", "Tiến", "Nhật", "Phúc")
FEMALE_MIDDLE = ("Thị", "Ngọc", "Thu", "Thanh", "Minh", "Kim", "Hồng", "Phương", "Bích", "Thùy", "Mai", "Khánh",
                 "Bảo", "Diệu", "Hoài", "Mỹ", "Tuyết", "Lan", "Quỳnh", "Hải", "Như", "Ánh", "Cẩm", "Yến")
MALE_GIVEN = (
    "An", "Bình", "Cường", "Dũng", "Duy", "Đạt", "Hải", "Hiếu", "Hoàng", "Hùng", "Huy", "Khang", "Khánh", "Khoa",
    "Kiên", "Lâm", "Long", "Lộc", "Minh", "Nam", "Nghĩa", "Nhân", "Phong", "Phúc", "Quân", "Quang", "Sơn",
    "Tài", "Tâm", "Thắng", "Thành", "Thịnh", "Toàn", "Trí", "Trung", "Tuấn", "Tùng", "Việt", "Vinh", "Vũ",
    "Bảo", "Đông", "Giang", "Hậu", "Hưng", "Kha", "Lợi", "Mạnh", "Nguyên", "Phát", "Quý", "Sang", "Thái",
    "Thiện", "Tiến", "Trọng", "Tú", "Văn", "Vương", "Khôi",
)
FEMALE_GIVEN = (
    "Anh", "Châu", "Chi", "Diệp", "Dung", "Duyên", "Giang", "Hà", "Hạnh", "Hằng", "Hiền", "Hoa", "Hương",
    "Huyền", "Lan", "Liên", "Linh", "Loan", "Ly", "Mai", "My", "Nga", "Ngân", "Ngọc", "Nhi", "Nhung",
    "Oanh", "Phương", "Quyên", "Quỳnh", "Tâm", "Thảo", "Thơ", "Thủy", "Thư", "Thương", "Trang", "Trâm",
    "Trinh", "Tuyết", "Uyên", "Vân", "Vy", "Xuân", "Yến", "Nguyệt", "Nhàn", "Hồng", "Khuê", "Diễm",
)
# place syllables (roots besides Viet74K's proper names) and the nouns places are named after
PLACE_SYLLABLES = (
    "An", "Bình", "Hòa", "Phú", "Tân", "Long", "Thạnh", "Mỹ", "Phước", "Thái", "Đông", "Tây", "Nam", "Bắc",
    "Hưng", "Lộc", "Thuận", "Xuân", "Vĩnh", "Quảng", "Hải", "Sơn", "Thủy", "Thành", "Gia", "Cát", "Kim",
    "Ngọc", "Trà", "Vân", "Hồng", "Lạc", "Yên", "Ninh", "Phong", "Đức", "Tràm", "Giang", "Châu", "Định",
    "Lâm", "Trung", "Khánh", "Cẩm", "Hương", "Thọ", "Phúc", "Lương", "Hà", "Tiên", "Bảo", "Quy", "Nhơn",
    "Hội", "Điền", "Thạch", "Mai", "Sa", "Tam", "Cần",
)
PLACE_NOUNS = ("xã", "huyện", "phường", "thôn", "thị trấn", "tỉnh", "hồ", "núi", "sông", "đảo", "vịnh",
               "đèo", "chợ", "cầu", "bến", "làng", "phố", "đường", "bãi biển", "khu công nghiệp", "thác", "chùa")
BARE_PLACE = 0.35  # places named by their root alone ("Hồ Tràm", "Bà Đen")
BRAND_SYLLABLES = (
    "Hòa", "Phát", "Minh", "Long", "Vạn", "Thịnh", "Thành", "Công", "Hưng", "Phú", "Quý", "Tân",
    "Việt", "Nam", "Á", "Đông", "Bảo", "Kim", "Ngân", "Hải", "Đại", "Tín", "Nghĩa", "Trường", "An", "Khang",
    "Gia", "Hoàng", "Phúc", "Lộc", "Tài", "Đức", "Thái", "Sơn", "Hà", "Vinh", "Quang", "Nhật", "Tiến",
    "Bình", "Cường", "Thuận", "Lợi", "Mai", "Linh", "Sao", "Sài", "Hồng", "Vân",
)
ORGANISATION_NOUNS = (
    "Công ty", "Ngân hàng", "Bệnh viện", "Tập đoàn", "Trường Đại học", "Nhà máy", "Khách sạn", "Siêu thị",
    "Nhà thuốc", "Phòng khám", "Trung tâm", "Viện", "Hợp tác xã", "Trường", "Nhà hàng", "Công ty Dược",
    "Ngân hàng Thương mại", "Bệnh viện Đa khoa", "Công ty Cổ phần", "Nhà xuất bản",
)
PLACE_ROOTED_ORGANISATION = 0.3  # organisations named after a place root ("Bệnh viện Tân Hương")


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@functools.cache
def viet74k_place_roots() -> tuple[str, ...]:
    """Viet74K's capitalized two-syllable proper names whose syllables are Vietnamese (its place
    names, most of them), in the file's order."""
    from workbench.text.lid import strip_tones, viet74k_path, vietnamese_syllables

    syllables = vietnamese_syllables()
    roots = []
    with open(viet74k_path(), encoding="utf-8") as handle:
        for line in handle:
            parts = _nfc(line.strip()).split(" ")
            if len(parts) == 2 and all(p[:1].isupper() and p[1:].islower() and strip_tones(p) in syllables
                                       for p in parts):
                roots.append(" ".join(parts))
    return tuple(dict.fromkeys(roots))


def _pair(rng: random.Random, syllables: tuple[str, ...]) -> str | None:
    first, second = rng.choice(syllables), rng.choice(syllables)
    return None if first == second else f"{first} {second}"


def _persons(rng: random.Random) -> Iterator[Term]:
    families, weights = tuple(FAMILY_NAMES), tuple(FAMILY_NAMES.values())
    while True:
        family = rng.choices(families, weights)[0]
        female = rng.random() < 0.5
        middle = rng.choice(FEMALE_MIDDLE if female else MALE_MIDDLE) if rng.random() < 0.85 else ""
        given_pool = FEMALE_GIVEN if female else MALE_GIVEN
        given = rng.choice(given_pool)
        if rng.random() < 0.08:  # "Nguyễn Ngọc Bảo Anh": a two-syllable given name
            given = f"{rng.choice(given_pool)} {given}"
        parts = [family, *([middle] if middle else []), *given.split()]
        if len(set(parts)) == len(parts):
            text = _nfc(" ".join(parts))
            yield Term(text, text, PERSON)


def _place_root(rng: random.Random) -> str | None:
    return rng.choice(viet74k_place_roots()) if rng.random() < 0.5 else _pair(rng, PLACE_SYLLABLES)


def _places(rng: random.Random) -> Iterator[Term]:
    while True:
        root = _place_root(rng)
        if root is not None:
            text = _nfc(root if rng.random() < BARE_PLACE else f"{rng.choice(PLACE_NOUNS)} {root}")
            yield Term(text, text, PLACE)


def _organisations(rng: random.Random) -> Iterator[Term]:
    while True:
        root = _place_root(rng) if rng.random() < PLACE_ROOTED_ORGANISATION else _pair(rng, BRAND_SYLLABLES)
        if root is not None:
            text = _nfc(f"{rng.choice(ORGANISATION_NOUNS)} {root}")
            yield Term(text, text, ORGANISATION)


def _stream(category: str, seed: int) -> Iterator[Term]:
    rng = random.Random(f"pronunciations:vi:{seed}:{category}")
    return {PERSON: _persons, PLACE: _places, ORGANISATION: _organisations}[category](rng)


def select_vietnamese_terms(size: int, shares: Mapping[str, float], seed: int, exclusion: Exclusion
                            ) -> TermSelection:
    """``size`` distinct Vietnamese terms, none blocked by ``exclusion``, the categories
    (``VIETNAMESE_CATEGORIES``) interleaved by ``shares``."""
    return interleave(size, shares, seed, exclusion, VIETNAMESE_CATEGORIES, _stream)
