"""Load-time rules across declarations. Each problem names the file and field and cites the
guideline clause it enforces."""

from __future__ import annotations

import functools
import re
import unicodedata

from orchestration.declarations.models import (
    AnchorKind,
    Classification,
    ColumnRole,
    ColumnType,
    DatasetDeclaration,
    DisclosureControl,
    DisclosureDefaults,
    DistrictDefaults,
    RetentionPolicy,
    Zone,
)

# Special care-required personal information (APPI art. 2(3) and its order; the guideline's
# appendix). A column named like one is refused (C5.2-4). English words are matched as whole
# words of a snake_case name ("race" refuses race_group, not trace_id); stems as the start of a
# word, or anywhere once separators are dropped (medi_cal_history); Japanese terms anywhere in
# the name, in kanji or in kana (katakana is read as hiragana).
# fmt: off
SPECIAL_CARE_WORDS = frozenset({
    # race, creed, social status
    "race", "creed", "belief", "faith", "caste",
    # medical history, checkups, guidance, diagnosis, treatment, dispensing
    "illness", "disease", "sickness", "ailment", "symptom", "patient", "treatment",
    "prescription", "medication", "medicine", "surgery",
    # disability
    "handicap", "disabled", "impairment",
    # criminal record, criminal and juvenile proceedings, crime victims
    "crime", "offence", "offense", "offender", "detention", "detainee", "parole", "probation",
    "prison", "inmate", "juvenile", "delinquency", "victim",
})
SPECIAL_CARE_STEMS = (
    "racial", "ethnic", "religio", "medical", "medicat", "diagnos", "clinic", "therap",
    "hospitaliz", "hospitalis", "pharmac", "psychiatr", "checkup", "disabilit", "criminal",
    "convict", "arrest", "detain", "prosecut", "indict", "incarcerat", "imprison",
)
SPECIAL_CARE_PHRASES = (
    "social_status", "health_check", "health_exam", "medical_exam", "physical_exam",
    "mental_health", "sexual_orientation",
)
SPECIAL_CARE_JAPANESE = (
    # the guideline's appendix
    "人種", "民族", "信条", "宗教", "社会的身分", "病歴", "既往歴", "診断", "障害", "健康診断",
    "犯罪歴", "前科", "逮捕歴", "被害歴",
    # issue 10's additions and their common variants
    "障がい", "障碍", "持病", "疾患", "疾病", "通院", "入院歴", "健診", "検診", "処方", "投薬",
    "服薬", "治療", "診療", "病名", "傷病", "信仰", "前歴", "補導", "非行歴", "犯罪被害", "門地",
    "逮捕", "起訴", "勾留", "拘留", "受刑", "服役", "少年審判",
)
# Kana spellings of the terms above that read as nothing else in a column name.
SPECIAL_CARE_KANA = (
    "じんしゅ", "しゅうきょう", "びょうれき", "きおうれき", "じびょう", "しっかん", "しっぺい",
    "しんだん", "ちりょう", "しょほう", "とうやく", "ふくやく", "つういん", "たいほ", "はんざい",
    "しょうがい",
)
# fmt: on
SPECIAL_CARE_ROLES = frozenset({ColumnRole.SENSITIVE, ColumnRole.QUASI_IDENTIFIER})
"""Roles under which a column's description is read for special-care terms too: a sensitive
attribute or a quasi-identifier is where special-care data hides behind a neutral name."""

_KATAKANA = range(0x30A1, 0x30F7)  # ァ..ヶ; the hiragana letter is 0x60 lower


def looks_special_care(column: str) -> bool:
    """Whether a column name reads as a special-care category (C5.2-4), also when it is
    spelled with look-alike letters (Cyrillic е, Greek ο, full-width ｅ), invisible ones,
    half- or full-width katakana, or hiragana."""
    name = reads_as(column)
    kana = _as_hiragana(name)
    joined = name.replace("_", "")
    return (
        _matches(name, SPECIAL_CARE_WORDS, SPECIAL_CARE_STEMS, SPECIAL_CARE_PHRASES)
        or _matches(_skeleton(name), *_folded_terms())
        or any(stem in joined for stem in SPECIAL_CARE_STEMS)
        or any(term in name for term in SPECIAL_CARE_JAPANESE)
        or any(term in kana for term in SPECIAL_CARE_KANA)
    )


def mentions_special_care(text: str) -> bool:
    """Whether free text (a column's description) names a special-care category (C5.2-4):
    each word is read as a column name is, and the phrases over consecutive words."""
    words = [w for w in re.split(r"\W+", reads_as(text)) if w]
    return any(looks_special_care(w) for w in words) or _matches(
        "_".join(words), frozenset(), (), SPECIAL_CARE_PHRASES
    )


def _as_hiragana(text: str) -> str:
    """Katakana read as hiragana (NFKC has already made half-width katakana full-width)."""
    return "".join(chr(ord(c) - 0x60) if ord(c) in _KATAKANA else c for c in text)


def reads_as(column: str) -> str:
    """``column`` as a reader sees it: NFKC, format (invisible) characters dropped, lower
    case, and each other-script letter replaced by the ASCII letters it looks like (its UTS #39
    prototype, looked up in lower case first so that Greek Ι reads as i, not l)."""
    prototypes = _ascii_prototypes()
    out = []
    for char in unicodedata.normalize("NFKC", column):
        if unicodedata.category(char) == "Cf":
            continue
        lower = char.lower()
        if char.isascii():
            out.append(lower)
        else:
            out.append(prototypes.get(lower, prototypes.get(char, lower)).lower())
    return "".join(out)


def _matches(
    name: str, words: frozenset[str], stems: tuple[str, ...], phrases: tuple[str, ...]
) -> bool:
    """English terms as whole snake_case words or word starts (digits separate words too);
    phrases anywhere."""
    padded = f"_{name}_"
    for word in re.split(r"[_0-9]+", name):
        plurals = {word.removesuffix("s"), word.removesuffix("es")}
        if word in words or plurals & words or word.startswith(stems):
            return True
    return any(f"_{phrase}" in padded for phrase in phrases)


@functools.cache
def _folded_terms() -> tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]:
    """The special-care terms as UTS #39 skeletons, for names spelled with ASCII look-alikes
    such as ``rnedical`` (m -> rn)."""
    return (
        frozenset(_skeleton(w) for w in SPECIAL_CARE_WORDS),
        tuple(_skeleton(s) for s in SPECIAL_CARE_STEMS),
        tuple(_skeleton(p) for p in SPECIAL_CARE_PHRASES),
    )


def _skeleton(text: str) -> str:
    prototypes = _ascii_prototypes()
    return "".join(prototypes.get(c, c) for c in text)


@functools.cache
def _ascii_prototypes() -> dict[str, str]:
    """Each character whose UTS #39 prototype is made of ASCII letters and digits, mapped to
    it (е -> e, ο -> o, I -> l, m -> rn). Unicode's confusables data, as shipped by the
    confusable-homoglyphs package, lists for a character either its prototype or, for a
    prototype, the characters mapped to it; a prototype never maps further, so an ASCII entry
    of a non-ASCII character is its prototype. ASCII characters are sources only when their one
    entry is ASCII (I, m, 0, 1)."""
    from confusable_homoglyphs.confusables import confusables_data

    mapping: dict[str, str] = {}
    for char, glyphs in confusables_data.items():
        char = char.strip("\u200e")  # right-to-left letters are wrapped in marks
        targets = [g["c"] for g in glyphs if g["c"].isascii() and g["c"].isalnum()]
        if len(char) != 1 or not targets:
            continue
        if not char.isascii() or len(glyphs) == 1:
            mapping[char] = targets[0]
    return mapping


Problem = tuple[str, str]
"""(field, text): one rule broken by one declaration."""


def check_rules(
    decls: dict[str, DatasetDeclaration],
    where: dict[str, str],
    policies: dict[str, RetentionPolicy],
    suites: set[str],
    backup_targets: set[str] | None,
    district: DistrictDefaults | None = None,
) -> list[str]:
    """Every problem of every declaration, each naming its file and field, then the problems
    of the lineage graph as a whole. With ``district`` (the district defaults) a disclosure
    threshold below the district's is refused too."""
    problems: list[str] = []
    defaults = district.disclosure if district is not None else None
    for key, d in decls.items():
        found = [
            *_production_problems(d, decls),
            *_reference_problems(d, suites, backup_targets),
            *_personal_data_problems(d, policies, decls),
            *_column_problems(d),
            *_terms_problems(d),
            *_disclosure_problems(d, decls, defaults),
            *_upstream_purpose_problems(d, decls),
            *_inherited_purpose_problems(d, decls),
            *_profiling_problems(d, decls),
            *subject_identifier_problems(d),
        ]
        problems += [f"{where[key]}: field {field}: {text}" for field, text in found]
    problems += _cycles(decls, where)
    problems += _city_os_reaching_personal_rail_os(decls, where)
    problems += _city_os_reaching_rail_os_indirectly(decls, where)
    problems += _classification_along_lineage(decls, where)
    return problems


def _production_problems(
    d: DatasetDeclaration, decls: dict[str, DatasetDeclaration]
) -> list[Problem]:
    """How the dataset is produced: exactly one of landing, or upstream + transform; data
    flows one way, Railway OS to City OS (C3.3-3)."""
    problems: list[Problem] = []
    if d.is_ingest and (d.upstream or d.transform):
        problems.append(
            (
                "landing",
                "an ingest dataset reads its landing folder only; "
                "remove upstream/transform or landing",
            )
        )
    if not d.is_ingest and not (d.upstream and d.transform):
        problems.append(
            (
                "transform",
                "a derived dataset needs both upstream and transform "
                "(or declare landing for an ingest dataset)",
            )
        )
    for i, up in enumerate(d.upstream):
        if up not in decls:
            problems.append((f"upstream.{i}", f"unknown dataset {up!r}"))
        elif d.zone is Zone.RAIL_OS and decls[up].zone is Zone.CITY_OS:
            problems.append(
                (
                    f"upstream.{i}",
                    f"data flows one way, Railway OS to City OS: {up!r} "
                    "(city_os) cannot feed a rail_os dataset (C3.3-3)",
                )
            )
    return problems


def _reference_problems(
    d: DatasetDeclaration, suites: set[str], backup_targets: set[str] | None
) -> list[Problem]:
    """The quality suite (C5.5-1) and backup target a declaration names exist."""
    problems: list[Problem] = []
    if d.quality_suite is None:
        problems.append(
            (
                "quality_suite",
                "every dataset names its quality suite, whose checks "
                "confirm accuracy, completeness and consistency (C5.5-1)",
            )
        )
    elif d.quality_suite not in suites:
        problems.append(("quality_suite", f"no suite file quality_suites/{d.quality_suite}.yaml"))
    if backup_targets is not None and d.backup.target not in backup_targets:
        problems.append(
            (
                "backup.target",
                f"unknown backup target {d.backup.target!r} "
                f"(configured: {', '.join(sorted(backup_targets))})",
            )
        )
    return problems


def _personal_data_problems(
    d: DatasetDeclaration,
    policies: dict[str, RetentionPolicy],
    decls: dict[str, DatasetDeclaration],
) -> list[Problem]:
    """Personal data stays out of City OS (C5.2-5), has a consent basis (C5.1-1) and a
    retention policy that serves its classification (C5.2-11)."""
    problems: list[Problem] = []
    kind = d.classification.value
    if d.zone is Zone.CITY_OS and d.classification.holds_personal_data:
        problems.append(
            (
                "classification",
                f"{kind} data is never stored in City OS; aggregate or anonymize first (C5.2-5)",
            )
        )
    if d.classification.holds_personal_data:
        if d.retention_policy is None:
            problems.append(("retention_policy", f"{kind} data needs a retention policy (C5.2-11)"))
        if not d.provider.consent_or_anonymization_confirmed:
            problems.append(
                (
                    "provider.consent_or_anonymization_confirmed",
                    "personal data may be "
                    "acquired only once the provider's consent basis is confirmed (C5.1-1)",
                )
            )
    if d.retention_policy is not None:
        policy = policies.get(d.retention_policy)
        if policy is None:
            problems.append(("retention_policy", f"unknown policy {d.retention_policy!r}"))
        elif d.classification not in policy.classifications:
            problems.append(
                ("retention_policy", f"policy {policy.name!r} does not serve {kind} data")
            )
        else:
            problems += [("retention_policy", t) for t in _anchor_problems(policy, d, decls)]
    return problems


def _column_problems(d: DatasetDeclaration) -> list[Problem]:
    """No special care-required information (C5.2-4), by category, by column name, or by the
    description of a sensitive or quasi-identifying column; no column declared twice."""
    problems: list[Problem] = []
    if d.special_care_categories:
        problems.append(
            (
                "special_care_categories",
                "special care-required personal information is never acquired (C5.2-4)",
            )
        )
    for i, col in enumerate(d.columns):
        if looks_special_care(col.name):
            shown = reads_as(col.name)
            reading = "" if shown == col.name else f" (it reads as {shown!r})"
            problems.append(
                (
                    f"columns.{i}.name",
                    f"{col.name!r}{reading} looks like a special-care name: special "
                    "care-required personal information is never acquired (C5.2-4)",
                )
            )
        elif col.role in SPECIAL_CARE_ROLES and mentions_special_care(col.description or ""):
            problems.append(
                (
                    f"columns.{i}.description",
                    f"{col.name!r} is declared {col.role.value} and described as a special-care "
                    "category: special care-required personal information is never acquired "
                    "(C5.2-4)",
                )
            )
    names = [c.name for c in d.columns]
    problems += [
        ("columns", f"column {dup!r} is declared twice")
        for dup in sorted({n for n in names if names.count(n) > 1})
    ]
    return problems


def _terms_problems(d: DatasetDeclaration) -> list[Problem]:
    """Confidential terms (C5.3-1, C5.3-2) and a license for a protected work (C5.6-1)."""
    problems: list[Problem] = []
    if d.classification is Classification.CONFIDENTIAL and d.confidential is None:
        problems.append(
            (
                "confidential",
                "confidential data declares the provider's permitted "
                "purposes and disclosure scope (C5.3-1)",
            )
        )
    if d.confidential is not None:
        outside = sorted(set(d.purposes) - set(d.confidential.permitted_purposes))
        if outside:
            problems.append(
                ("purposes", f"outside the provider's permitted purposes: {outside} (C5.3-2)")
            )
    if d.copyright is not None and d.copyright.protected and not d.copyright.license:
        problems.append(
            (
                "copyright.license",
                "a protected work needs a license before it can be materialized (C5.6-1)",
            )
        )
    return problems


def _anchor_problems(
    policy: RetentionPolicy, d: DatasetDeclaration, decls: dict[str, DatasetDeclaration]
) -> list[str]:
    """What the policy counts from must exist for this dataset."""
    anchor = policy.anchor
    if anchor.kind is AnchorKind.COLUMN:
        column = d.column(anchor.column or "")
        if column is None:
            return [
                f"policy {policy.name!r} counts from column {anchor.column!r}, which this "
                "dataset does not declare"
            ]
        if column.type not in (ColumnType.TIMESTAMP, ColumnType.DATE):
            return [
                f"policy {policy.name!r} counts from column {anchor.column!r}, which is not "
                "a timestamp or date"
            ]
    if anchor.kind is AnchorKind.PARTITION_END and not d.is_partitioned:
        return [
            f"policy {policy.name!r} counts from the partition's end, but this dataset is "
            "not partitioned"
        ]
    derived = any(d.key in other.upstream for other in decls.values())
    if anchor.kind is AnchorKind.DERIVATION and not derived and not policy.not_later_than:
        return [
            f"policy {policy.name!r} waits for derived datasets (C5.2-3), but none is derived "
            "from this one and the policy sets no not_later_than: it would never be purged"
        ]
    return []


def _ancestors(decls: dict[str, DatasetDeclaration], key: str) -> list[str]:
    """Every declared dataset ``key`` is made from, directly or not, nearest first.

    Rules run on declarations that may hold a lineage cycle (``_cycles`` reports it), so the
    walk visits each dataset once and stops once it has found them all: it always ends.
    """
    seen: list[str] = []
    frontier = list(decls[key].upstream)
    while frontier and len(seen) < len(decls):
        up = frontier.pop(0)
        if up in decls and up not in seen:
            seen.append(up)
            frontier.extend(decls[up].upstream)
    return seen


def _city_os_reaching_rail_os_indirectly(
    decls: dict[str, DatasetDeclaration], where: dict[str, str]
) -> list[str]:
    """C3.3-3 through intermediate zones: no path leads from City OS back into Railway OS."""
    problems = []
    for key, d in decls.items():
        if d.zone is not Zone.RAIL_OS:
            continue
        direct = {up for up in d.upstream if up in decls and decls[up].zone is Zone.CITY_OS}
        back = [
            a for a in _ancestors(decls, key) if decls[a].zone is Zone.CITY_OS and a not in direct
        ]
        if back:
            problems.append(
                f"{where[key]}: field upstream: made, through other datasets, from "
                f"City OS data ({', '.join(back)}); data flows one way, Railway OS "
                "to City OS (C3.3-3)"
            )
    return problems


def _cycles(decls: dict[str, DatasetDeclaration], where: dict[str, str]) -> list[str]:
    problems: list[str] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    reported: set[frozenset[str]] = set()

    def visit(key: str, path: list[str]) -> None:
        state[key] = 1
        for up in decls[key].upstream:
            if up not in decls:
                continue
            if state.get(up) == 1:
                cycle = [*path[path.index(up) :], up]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    problems.append(
                        f"{where[up]}: field upstream: lineage cycle {' <- '.join(cycle)}"
                    )
            elif state.get(up) is None:
                visit(up, [*path, up])
        state[key] = 2

    for key in sorted(decls):
        if key not in state:
            visit(key, [key])
    return problems


def _city_os_reaching_personal_rail_os(
    decls: dict[str, DatasetDeclaration], where: dict[str, str]
) -> list[str]:
    """C3.3-1: City OS data made from personal Railway OS data is statistical or anonymized."""
    problems = []
    allowed = {Classification.STATISTICAL, Classification.ANONYMIZED}
    for key, d in decls.items():
        if d.zone is not Zone.CITY_OS or d.classification in allowed:
            continue
        personal = [
            up
            for up in _ancestors(decls, key)
            if decls[up].zone is Zone.RAIL_OS and decls[up].classification.holds_personal_data
        ]
        if personal:
            problems.append(
                f"{where[key]}: field classification: made from personal "
                f"Railway OS data ({personal[0]}), so it must be statistical or "
                "anonymized (C3.3-1)"
            )
    return problems


def subject_identifier_problems(d: DatasetDeclaration) -> list[Problem]:
    """Personal and pseudonymized data names the columns that identify its subject, so that a
    subject request reaches every version of it; other data names none (C5.2-6)."""
    kind = d.classification.value
    if not d.classification.holds_personal_data:
        if d.subject_identifiers:
            return [
                (
                    "subject_identifiers",
                    f"{kind} data identifies nobody, so it declares no subject identifier "
                    "(C5.2-6); classify it personal or pseudonymized, or remove them",
                )
            ]
        return []
    if not d.subject_identifiers:
        return [
            (
                "subject_identifiers",
                f"{kind} data declares the column(s) that identify its subject, so a subject "
                "request can find it (C5.2-6)",
            )
        ]
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for i, ident in enumerate(d.subject_identifiers):
        col = d.column(ident.column)
        if col is None:
            problems.append((f"subject_identifiers.{i}.column", f"no column {ident.column!r}"))
        elif col.role is not ColumnRole.SUBJECT_IDENTIFIER:
            problems.append(
                (
                    f"subject_identifiers.{i}.column",
                    f"column {ident.column!r} must have role subject_identifier (C5.2-6)",
                )
            )
        if (ident.column, ident.kind) in seen:
            problems.append((f"subject_identifiers.{i}", "declared twice"))
        seen.add((ident.column, ident.kind))
    return problems


# -- Classification and purpose follow lineage (issue 10) --------------------------------------
DISCLOSURE_CHECKED = frozenset({Classification.STATISTICAL, Classification.ANONYMIZED})
RESTRICTED = frozenset(
    {Classification.PERSONAL, Classification.PSEUDONYMIZED, Classification.CONFIDENTIAL}
)
PERSONAL_OR_CHECKED = frozenset(
    {Classification.PERSONAL, Classification.PSEUDONYMIZED, *DISCLOSURE_CHECKED}
)


def made_from_personal_data(decls: dict[str, DatasetDeclaration], key: str) -> bool:
    """Whether any dataset ``key`` is made from, directly or not, holds personal data: then a
    statistical or anonymized ``key`` is disclosure-checked on every version (C3.3-1)."""
    return any(decls[a].classification.holds_personal_data for a in _ancestors(decls, key))


def restricted_paths(decls: dict[str, DatasetDeclaration], key: str) -> list[list[str]]:
    """Each lineage path from ``key`` up to personal, pseudonymized or confidential data that
    does not pass through a disclosure-checked (statistical or anonymized) dataset or a
    confidential dataset's release of its derived dataset; nearest first, ``key`` first."""
    paths: list[list[str]] = []
    frontier = [[key]]
    seen = {key}
    while frontier:
        path = frontier.pop(0)
        for up in decls[path[-1]].upstream:
            upstream = decls.get(up)
            if upstream is None or up in seen or _released(upstream, path[-1]):
                continue
            seen.add(up)
            if upstream.classification in RESTRICTED:
                paths.append([*path, up])
            elif upstream.classification not in DISCLOSURE_CHECKED:
                frontier.append([*path, up])
    return paths


def _released(upstream: DatasetDeclaration, reader: str) -> bool:
    """The confidential ``upstream``'s provider agreed ``reader`` need not stay confidential."""
    terms = upstream.confidential
    return upstream.classification is Classification.CONFIDENTIAL and (
        terms is not None and reader in terms.released_to
    )


def _classification_along_lineage(
    decls: dict[str, DatasetDeclaration], where: dict[str, str]
) -> list[str]:
    """A dataset made from personal data is personal unless disclosure-checked; one made from
    confidential data stays confidential unless its provider released it; an open dataset
    reaches neither (C5.1-4, C3.3-1, C5.2-5, C5.3-2). Each problem names the lineage path."""
    problems = []
    for key, d in decls.items():
        if d.is_ingest:
            continue  # an ingest dataset with an upstream is refused as such
        for path in restricted_paths(decls, key):
            if _reported_as_c3_3_1(d, decls[path[-1]]):
                continue
            text = _lineage_problem(d, decls[path[-1]], path)
            if text is not None:
                problems.append(f"{where[key]}: field classification: {text}")
                break
    return problems


def _reported_as_c3_3_1(d: DatasetDeclaration, source: DatasetDeclaration) -> bool:
    """City OS data made from personal Railway OS data has its own problem (C3.3-1)."""
    return (
        d.zone is Zone.CITY_OS
        and source.zone is Zone.RAIL_OS
        and source.classification.holds_personal_data
        and d.classification not in DISCLOSURE_CHECKED
    )


def _lineage_problem(
    d: DatasetDeclaration, source: DatasetDeclaration, path: list[str]
) -> str | None:
    kind = d.classification
    reach = f"its lineage reaches {source.key} ({source.classification.value}) through "
    route = " <- ".join(path)
    if kind is Classification.OPEN:
        return (
            f"open, but {reach}{route} without a disclosure-checked (statistical or "
            "anonymized) dataset on the way (C5.1-4, C3.3-1)"
        )
    if source.classification.holds_personal_data and kind not in PERSONAL_OR_CHECKED:
        return (
            f"{kind.value}, but {reach}{route}: data made from personal data is personal "
            "or pseudonymized unless it is statistical or anonymized and disclosure-checked "
            "(C5.2-5)"
        )
    if source.classification is Classification.CONFIDENTIAL and kind is not source.classification:
        return (
            f"{kind.value}, but {reach}{route}: it stays confidential unless "
            f"{source.key}'s provider releases it (confidential.released_to, C5.3-2)"
        )
    return None


def _disclosure_problems(
    d: DatasetDeclaration,
    decls: dict[str, DatasetDeclaration],
    defaults: DisclosureDefaults | None,
) -> list[Problem]:
    """Statistical and anonymized data identify nobody: no subject identifier (C5.2-5), and,
    when made from personal data, a disclosure control that can be checked on each version
    at the district's thresholds or stricter (C3.3-1, C5.1-4)."""
    kind = d.classification
    problems: list[Problem] = [
        (
            f"columns.{i}.role",
            f"{kind.value} data holds no subject identifier ({col.name!r}); nobody may be "
            "identifiable from it (C5.2-5)",
        )
        for i, col in enumerate(d.columns)
        if kind in DISCLOSURE_CHECKED and col.role is ColumnRole.SUBJECT_IDENTIFIER
    ]
    control = d.disclosure
    if control is not None and kind not in DISCLOSURE_CHECKED:
        return [
            *problems,
            ("disclosure", "only statistical or anonymized data is disclosure-checked"),
        ]
    if kind not in DISCLOSURE_CHECKED or not made_from_personal_data(decls, d.key):
        return problems
    if control is None and kind is Classification.ANONYMIZED:
        return problems  # checked over its column roles at the district's thresholds
    if control is None:
        return [
            *problems,
            (
                "disclosure",
                "statistical data made from personal data declares its counts and dimensions "
                "in a disclosure block, so every version is disclosure-checked before "
                "promotion (C3.3-1, C5.1-4)",
            ),
        ]
    problems += _threshold_problems(control, defaults)
    if kind is Classification.STATISTICAL:
        return problems + _table_problems(d)
    return problems + _microdata_problems(d)


def _threshold_problems(
    control: DisclosureControl, defaults: DisclosureDefaults | None
) -> list[Problem]:
    """A dataset may ask for more disclosure control than the district's, never for less."""
    if defaults is None:
        return []
    return [
        (
            f"disclosure.{name}",
            f"{declared} is below the district's {floor} (retention_policies/"
            "district_defaults.yaml); a dataset may only ask for more (C3.3-1, C5.1-4)",
        )
        for name, declared, floor in (
            ("min_cell_count", control.min_cell_count, defaults.min_cell_count),
            ("k_anonymity", control.k_anonymity, defaults.k_anonymity),
            ("l_diversity", control.l_diversity, defaults.l_diversity),
        )
        if declared is not None and declared < floor
    ]


def _table_problems(d: DatasetDeclaration) -> list[Problem]:
    """A statistical table says which columns are counts and which name a cell; every column
    is one of them, and a count can be suppressed (nullable integer)."""
    control = d.disclosure
    assert control is not None
    problems: list[Problem] = []
    if not control.counts:
        problems.append(("disclosure.counts", "a statistical table declares its count columns"))
    declared = set(control.counts) | set(control.dimensions)
    for i, col in enumerate(d.columns):
        if col.name not in declared:
            problems.append(
                (
                    f"columns.{i}",
                    f"{col.name!r} is neither a count nor a dimension of the statistical "
                    "table (disclosure.counts, disclosure.dimensions; C3.3-1)",
                )
            )
    for field in ("counts", "dimensions"):
        for i, name in enumerate(getattr(control, field)):
            if d.column(name) is None:
                problems.append((f"disclosure.{field}.{i}", f"no column {name!r}"))
    for i, name in enumerate(control.counts):
        col = d.column(name)
        if col is not None and not (col.type is ColumnType.INTEGER and col.nullable):
            problems.append(
                (
                    f"disclosure.counts.{i}",
                    f"count {name!r} is a nullable integer: a suppressed cell is left empty",
                )
            )
    for i, total in enumerate(control.published_totals):
        outside = [n for n in total if n not in control.dimensions]
        if outside:
            problems.append((f"disclosure.published_totals.{i}", f"not dimensions: {outside}"))
    if control.k_anonymity is not None or control.l_diversity is not None:
        problems.append(
            ("disclosure", "k_anonymity and l_diversity apply to anonymized microdata only")
        )
    return problems


def _microdata_problems(d: DatasetDeclaration) -> list[Problem]:
    """Anonymized microdata is checked over its column roles, not over declared cells."""
    control = d.disclosure
    assert control is not None
    table_fields = [
        name
        for name in ("counts", "dimensions", "published_totals", "min_cell_count")
        if getattr(control, name)
    ]
    if not table_fields:
        return []
    return [
        (
            "disclosure",
            f"{', '.join(table_fields)} describe statistical tables; anonymized microdata is "
            "checked for k-anonymity over its quasi_identifier columns and l-diversity over "
            "its sensitive ones",
        )
    ]


def _upstream_purpose_problems(
    d: DatasetDeclaration, decls: dict[str, DatasetDeclaration]
) -> list[Problem]:
    """A derivation reads each upstream for one of that upstream's purposes, and for
    confidential data one its provider permits (C5.2-7, C5.3-2)."""
    problems: list[Problem] = [
        (f"upstream_purposes.{up}", f"{up} is not an upstream of this dataset")
        for up in d.upstream_purposes
        if up not in d.upstream
    ]
    if d.is_ingest:
        return problems  # an ingest dataset with an upstream is refused as such
    for i, up in enumerate(d.upstream):
        upstream = decls.get(up)
        purpose = d.upstream_purposes.get(up)
        if upstream is None:
            continue
        if purpose is None:
            problems.append(
                (
                    f"upstream.{i}",
                    f"declare the purpose for which it reads {up} (upstream_purposes; C5.2-7)",
                )
            )
        elif purpose not in upstream.purposes:
            problems.append(
                (
                    f"upstream_purposes.{up}",
                    f"reads {up} for {purpose!r}, which is not one of its purposes "
                    f"({', '.join(upstream.purposes)}) (C5.2-7)",
                )
            )
        elif upstream.confidential and purpose not in upstream.confidential.permitted_purposes:
            problems.append(
                (
                    f"upstream_purposes.{up}",
                    f"reads {up} for {purpose!r}, which its provider does not permit (C5.3-2)",
                )
            )
    return problems


def _inherited_purpose_problems(
    d: DatasetDeclaration, decls: dict[str, DatasetDeclaration]
) -> list[Problem]:
    """Data that is still personal or confidential serves only purposes its personal or
    confidential upstreams have; statistical and anonymized data may serve its own (C5.2-7,
    C5.3-2)."""
    if d.classification not in RESTRICTED:
        return []
    problems: list[Problem] = []
    for up in d.upstream:
        upstream = decls.get(up)
        if upstream is None or upstream.classification not in RESTRICTED:
            continue
        allowed = set(upstream.purposes)
        if upstream.confidential is not None:
            allowed &= set(upstream.confidential.permitted_purposes)
        lacking = [p for p in d.purposes if p not in allowed]
        if lacking:
            clause = (
                "C5.3-2" if upstream.classification is Classification.CONFIDENTIAL else "C5.2-7"
            )
            problems.append(
                (
                    "purposes",
                    f"{d.classification.value} data made from {up} may not claim purposes "
                    f"{up} lacks: {lacking} ({clause})",
                )
            )
    return problems


# -- Profiling only with consent (C5.2-9) ------------------------------------------------------
def consent_columns(d: DatasetDeclaration, purpose: str) -> list[str]:
    """The columns of ``d`` whose true value records its subject's consent to ``purpose``."""
    return [c.name for c in d.columns if c.role is ColumnRole.CONSENT and purpose in c.consent_to]


def profiles(d: DatasetDeclaration, purpose: str) -> bool:
    """Whether using ``d`` for ``purpose`` profiles the persons in it: a profiling purpose of
    personal or pseudonymized data (C5.2-9). Only rows whose consent columns for it are all
    true may then be used."""
    return d.classification.holds_personal_data and purpose in d.profiling_purposes


def _profiling_problems(
    d: DatasetDeclaration, decls: dict[str, DatasetDeclaration]
) -> list[Problem]:
    """Profiling purposes are declared purposes; consent columns are booleans naming declared
    purposes; a derivation reads personal data for profiling only from a dataset with a consent
    column for that purpose, and a derivation that claims an upstream's profiling purpose reads
    it for one (C5.2-9)."""
    problems: list[Problem] = [
        (f"profiling_purposes.{i}", f"{p!r} is not one of the purposes")
        for i, p in enumerate(d.profiling_purposes)
        if p not in d.purposes
    ]
    for i, col in enumerate(d.columns):
        consent = col.role is ColumnRole.CONSENT
        if consent and col.type is not ColumnType.BOOLEAN:
            problems.append((f"columns.{i}.type", "a consent column is a boolean (C5.2-9)"))
        if consent and not col.consent_to:
            problems.append(
                (f"columns.{i}.consent_to", "a consent column names the purposes it consents to")
            )
        if col.consent_to and not consent:
            problems.append((f"columns.{i}.consent_to", "only a consent column has consent_to"))
        problems += [
            (f"columns.{i}.consent_to.{j}", f"{p!r} is not one of the purposes")
            for j, p in enumerate(col.consent_to)
            if p not in d.purposes
        ]
    for up in d.upstream:
        upstream = decls.get(up)
        if upstream is None or d.is_ingest:
            continue
        problems += _profiling_read_problems(d, upstream)
    return problems


def _profiling_read_problems(d: DatasetDeclaration, upstream: DatasetDeclaration) -> list[Problem]:
    """A read for profiling needs a consent column to narrow to; a derivation claiming an
    upstream's profiling purpose reads it for one (an undeclared purpose is reported apart)."""
    up = upstream.key
    purpose = d.upstream_purposes.get(up)
    if purpose is None:
        return []
    if profiles(upstream, purpose):
        if consent_columns(upstream, purpose):
            return []
        return [
            (
                f"upstream_purposes.{up}",
                f"reads {up} for {purpose!r}, which profiles the persons in it, but {up} "
                f"declares no consent column for {purpose!r} (role consent, consent_to), so "
                "its rows cannot be limited to those who consented (C5.2-9)",
            )
        ]
    claimed = [p for p in d.purposes if profiles(upstream, p)]
    if claimed:
        return [
            (
                f"upstream_purposes.{up}",
                f"claims {up}'s profiling purpose {claimed[0]!r} but reads {up} for "
                f"{purpose!r}: read it for {claimed[0]!r}, so only the "
                "rows of persons who consented reach it (C5.2-9)",
            )
        ]
    return []
