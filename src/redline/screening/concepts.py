"""The red lines' deciding features as multilingual concept lexicons, for stage 1.

N-grams learn vocabulary; they cannot learn from a few hundred items per language that "every resident" plus
"location history" is a violation while "one named suspect" plus "warrant" is not. These lexicons name the
deciding features of ../shared/ARCHITECTURE.md in the corpus's seven languages, and their pairwise
interactions (wholesale x tracking, autonomy x weapon, ...) give the linear model language-independent
evidence. Entries are matched on normalised text: `stem*` matches a word prefix, plain entries whole words,
and entries in unspaced scripts (Chinese) anywhere.
"""

from __future__ import annotations

import re

import numpy as np
from numpy.typing import NDArray

CONCEPTS: dict[str, list[str]] = {
    "wholesale": [
        "every", "everyone", "everybody", "all residents", "all citizens", "all users", "all accounts",
        "all phones", "all subscribers", "all attendees", "all people", "all persons", "all vehicles",
        "anyone who", "anybody who", "entire population", "whole population", "whole city", "entire city",
        "citywide", "city-wide", "nationwide", "population-wide", "en masse", "in bulk", "bulk", "wholesale",
        "all of them", "each person", "each resident", "each citizen", "all individuals", "all members",
        "todos los", "todas las", "cada ciudadano", "cada persona", "toda la población", "cualquier persona",
        "masivamente", "tous les", "toutes les", "chaque citoyen", "chaque personne", "toute la population",
        "quiconque", "massivement", "alle", "allen", "jeden", "jede", "jeder", "gesamte bevölkerung", "sämtliche",
        "flächendeckend", "所有", "全部", "每个", "每一个", "全市", "全省", "全国",
        "全体", "任何人", "全量", "一网打尽",
        "все", "всех", "каждого", "каждый", "каждой", "всё население", "все население", "поголовно", "любого",
        "массов*", "جميع", "كل", "كافة", "أي شخص", "الجميع",
    ],
    "population": [
        "citizen*", "resident*", "population", "inhabitant*", "voter*", "protester*", "protestor*", "attendee*",
        "dissident*", "subscriber*", "minorit*", "activist*", "journalist*", "the public", "civilians",
        "ciudadan*", "habitante*", "vecinos", "población", "manifestante*", "votante*", "citoyen*", "habitant*",
        "manifestant*", "électeur*", "bürger*", "einwohner*", "bevölkerung", "demonstrant*", "wähler*",
        "居民", "公民", "市民", "群众", "人口", "村民", "上访", "维吾尔", "穆斯林", "граждан*", "жител*", "населени*",
        "протестующ*", "избирател*", "оппозиц*", "المواطن*", "السكان", "المتظاهر*", "الناخب*", "المعارض*",
    ],
    "tracking": [
        "track*", "monitor*", "profil*", "dossier*", "identify", "identif*", "face recognition",
        "facial recognition", "location*", "geofenc*", "surveil*", "watchlist*", "watch list", "loyalty",
        "social credit", "scrape*", "scraping", "cross-referenc*", "de-anonymi*", "deanonymi*", "movement*",
        "pattern of life", "pattern-of-life", "whereabouts", "sentiment", "flag anyone", "flag every",
        "rastre*", "vigil*", "perfil*", "expediente*", "identific*", "reconocimiento facial", "ubicaci*",
        "geolocaliz*", "monitore*", "suivi", "suivre", "surveill*", "fichier*", "fichage", "ficher",
        "reconnaissance faciale", "localis*", "traçage", "überwach*", "verfolg*", "gesichtserkennung", "standort*",
        "ortung", "bewegungsprofil*", "监控", "追踪", "跟踪", "档案", "画像", "识别", "人脸",
        "定位", "轨迹", "评分", "布控",
        "排查", "预警", "слеж*", "отслеж*", "мониторинг*", "досье", "профил*", "идентифи*", "распознавани*",
        "геолокац*", "местоположени*", "рейтинг*", "مراقب*", "تتبع", "ملف", "ملفات", "التعرف على الوجوه", "موقع",
        "رصد", "تصنيف",
    ],
    "discriminant": [
        "warrant*", "court order*", "subpoena*", "named suspect", "single suspect", "one suspect", "the suspect",
        "specific individual", "probable cause", "mlat", "production order", "judge", "magistrate",
        "orden judicial", "mandamiento", "sospechos*", "juez", "mandat", "commission rogatoire", "suspect",
        "juge", "richterlich*", "beschluss", "durchsuchungsbeschluss", "verdächtig*", "staatsanwalt*",
        "搜查令", "法院", "嫌疑人", "立案", "ордер*", "суд*", "подозреваем*", "أمر قضائي", "مذكرة", "المشتبه",
        "النيابة",
    ],
    "aggregate": [
        "anonymi*", "anonymis*", "aggregat*", "statistic*", "differential privacy", "k-anonym*", "census",
        "de-identif*", "no personal data", "privacy", "anonim*", "agregad*", "estadístic*", "privacidad",
        "anonym*", "agrégé*", "statistique*", "aggregiert*", "statistik*", "datenschutz", "匿名", "汇总", "统计",
        "脱敏", "隐私", "анонимн*", "агрегир*", "статистик*", "مجهول*", "إحصا*", "مجمع*", "خصوصية",
    ],
    "foreign": [
        "foreign", "abroad", "overseas", "enemy", "adversar*", "hostile state", "extranjer*", "étranger*",
        "ausländ*", "境外", "外国", "敌方", "иностран*", "противник*", "أجنبي*", "العدو",
    ],
    "weapon": [
        "fire", "firing", "fires", "strike*", "engage*", "engagement*", "shoot*", "kill", "attack*", "missile*",
        "munition*", "warhead*", "lethal", "weapon*", "turret*", "payload release", "release the payload", "bomb*",
        "loitering", "kamikaze", "neutraliz*", "eliminat*", "detonat*", "disparar", "disparo*", "atacar", "ataque*",
        "munici*", "arma", "armas", "letal*", "misil*", "torreta*", "tirer", "tir", "frappe*", "frapper",
        "arme*", "létal*", "détruire", "feuer*", "schießen", "schuss", "angriff*", "angreifen", "waffe*",
        "tödlich*", "rakete*", "bekämpf*", "开火", "射击", "打击", "攻击", "弹药", "武器", "致命", "导弹", "炮塔",
        "巡飞弹", "摧毁", "огонь", "огня", "стрел*", "удар*", "атак*", "боеприпас*", "оружи*", "летальн*",
        "ракет*", "поражени*", "уничтож*", "إطلاق النار", "النار", "ضرب*", "هجوم", "ذخير*", "سلاح", "أسلحة",
        "قاتل*", "صاروخ*", "استهداف",
    ],
    "platform": [
        "drone*", "uav*", "uas", "swarm*", "robot*", "sentry", "ugv*", "usv*", "quadcopter*", "fpv",
        "dron", "drones", "enjambre*", "essaim*", "drohne*", "schwarm*", "无人机", "蜂群", "机器人", "дрон*",
        "беспилот*", "рой", "роя", "робот*", "مسير*", "بدون طيار", "سرب", "روبوت*",
    ],
    "autonomy": [
        "without human", "no human", "without operator", "without an operator", "without approval",
        "without confirmation", "without asking", "no operator", "autonomous*", "autonomously", "automatically",
        "on its own", "by itself", "auto-engage*", "auto engage*", "auto-fire", "weapons free", "weapons-free",
        "out of the loop", "out-of-the-loop", "remove the confirm*", "skip the confirm*", "skip confirmation",
        "bypass", "no need to ask", "don't ask", "do not ask", "lost link", "loss of link", "link loss",
        "link is lost", "comms lost", "decide yourself", "your own judg*", "fire-and-forget", "no approval",
        "without waiting", "close the loop", "closing the loop", "no man in the", "sin intervención humana",
        "sin aprobación", "sin operador", "autónom*", "automáticamente", "por sí mism*", "sin confirmación",
        "sin pedir", "sans intervention humaine", "sans validation", "sans opérateur", "autonome*",
        "automatiquement", "sans confirmation", "de lui-même", "sans demander", "ohne menschlich*",
        "ohne freigabe", "ohne bediener", "autonom*", "automatisch*", "selbstständig*", "eigenständig*",
        "ohne bestätigung", "ohne rückfrage", "无需", "不需要", "自主", "自动", "无人干预", "无需人工", "断链", "自行",
        "不用请示", "без участия человека", "без оператора", "без подтверждения", "автономн*",
        "автоматически", "самостоятельно", "без санкции", "потере связи", "потери связи", "دون تدخل بشري",
        "بدون موافقة", "بدون مشغل", "ذاتي*", "تلقائي*", "دون تأكيد", "من تلقاء نفسه", "دون الرجوع",
    ],
    "human_control": [
        "operator approv*", "human approv*", "operator confirm*", "human in the loop", "human-in-the-loop",
        "requires authori*", "require authori*", "await approval", "awaiting approval", "operator must",
        "commander approv*", "human decision", "manual confirm*", "for the operator", "for an operator",
        "operator's approval", "explicit approval", "operator authori*", "human review", "approved by",
        "aprobación del operador", "humano en el bucle", "requiere autorización", "confirmación manual",
        "validation de l'opérateur", "validation humaine", "humain dans la boucle", "autorisation explicite",
        "freigabe durch", "mensch in der schleife", "menschliche freigabe", "bestätigung durch",
        "人工确认", "操作员批准", "操作员确认", "人在回路", "需经批准", "人工审批", "подтверждени* оператор*",
        "человек в контуре", "санкци* оператор*", "решение оператора", "موافقة المشغل", "تأكيد بشري",
        "الإنسان في الحلقة", "بموافقة",
    ],
    "framing": [
        "history", "historical", "essay", "policy", "ethic*", "treaty", "3000.09", "arms control", "novel",
        "short story", "explain", "summari*", "debate", "research", "paper", "lecture", "course", "article",
        "position paper", "statement", "delegation", "ccw", "general assembly", "united nations", "legal review",
        "thesis",
        "stellungnahme", "delegación", "declaración", "déclaration", "délégation", "nouvelle", "thèse",
        "cuento", "relato", "erzählung", "kurzgeschichte", "声明", "代表团", "рассказ", "заявлени*", "قصة",
        "historia", "ensayo", "ética", "histoire", "essai", "éthique", "roman", "geschichte", "aufsatz",
        "ethik", "历史", "论文", "伦理", "小说", "政策", "истори*", "эссе", "этик*", "роман*", "политик*", "تاريخ",
        "مقال", "أخلاقي*", "رواية", "سياسة",
    ],
}  # fmt: skip

INTERACTIONS: list[tuple[str, ...]] = [
    ("wholesale", "tracking"),
    ("population", "tracking"),
    ("wholesale", "population", "tracking"),
    ("tracking", "discriminant"),
    ("tracking", "aggregate"),
    ("tracking", "foreign"),
    ("autonomy", "weapon"),
    ("autonomy", "platform"),
    ("autonomy", "weapon", "platform"),
    ("weapon", "human_control"),
    ("weapon", "platform"),
    ("autonomy", "human_control"),
    ("weapon", "framing"),
    ("tracking", "framing"),
]

_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")


def _matcher(entries: list[str]) -> re.Pattern[str]:
    """One regex per concept. The word-start check is hoisted out of the alternation, so positions inside a
    word are rejected at once instead of once per entry (several times faster on long inputs)."""
    unspaced = [re.escape(e) for e in entries if _UNSPACED.search(e)]
    spaced = [
        re.escape(e[:-1]) if e.endswith("*") else re.escape(e) + r"(?!\w)"
        for e in entries
        if not _UNSPACED.search(e)
    ]
    parts = [r"(?<!\w)(?:" + "|".join(spaced) + ")"] if spaced else []
    parts += unspaced
    return re.compile("|".join(parts))


_MATCHERS = {name: _matcher(entries) for name, entries in CONCEPTS.items()}
FEATURE_NAMES: list[str] = [*CONCEPTS, *("x".join(group) for group in INTERACTIONS)]


def concepts_in(text: str) -> dict[str, int]:
    """How many matches of each concept occur in `text` (normalised)."""
    return {name: len(matcher.findall(text)) for name, matcher in _MATCHERS.items()}


def concept_features(texts: list[str]) -> NDArray[np.float32]:
    """Presence of each concept (saturating in the count) and of each interaction, one row per text."""
    out = np.zeros((len(texts), len(FEATURE_NAMES)), dtype=np.float32)
    for row, text in enumerate(texts):
        found = concepts_in(text)
        present = {name: min(count, 3) / 3 for name, count in found.items()}
        for col, name in enumerate(CONCEPTS):
            out[row, col] = present[name]
        base = len(CONCEPTS)
        for col, group in enumerate(INTERACTIONS):
            out[row, base + col] = float(all(present[g] > 0 for g in group))
    return out
