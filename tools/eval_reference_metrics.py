#!/usr/bin/env python3
"""Reference SQuAD v2.0 EM/F1 and ROUGE-1/2/L scores, and the fixture that checks dsla's C++ metrics.

As a module (tools/hf_eval.py imports it):
    squad_scores(prediction, answers) -> (exact, f1)      fractions in [0, 1]; answers == [] is unanswerable
    rouge_scores(prediction, reference) -> {"rouge1": (p, r, f), "rouge2": ..., "rougeL": ...}

squad_scores follows the official SQuAD v2.0 evaluation script (evaluate-v2.0.py, Rajpurkar et al.,
https://rajpurkar.github.io/SQuAD-explorer/); its small functions are copied below. rouge_scores is PyPI
rouge-score's RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True), which stems with NLTK's
PorterStemmer in its default NLTK_EXTENSIONS mode.

As a script, with the project venv:
    ~/.cache/dsla/torch-2.11.0/bin/python tools/eval_reference_metrics.py \
        --write tests/eval/fixtures/metric_fixtures.json
writes the cases that tests/eval/test_metrics.cpp checks src/eval/ against (normalised answers, SQuAD
EM/F1, ROUGE tokens and scores, and NLTK stems word by word).
"""
import argparse
import collections
import json
import os
import re
import string
import sys
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSETS = Path(os.environ.get("DSLA_ASSETS", REPO.parent / "shared" / "assets"))
XSUM = ASSETS / "datasets" / "xsum_test_800" / "xsum_test_800.jsonl"
SQUAD = ASSETS / "datasets" / "squad_v2_dev_split" / "dev-v2.0.articles1-12.json"


# --- From the official SQuAD v2.0 evaluation script (evaluate-v2.0.py), unchanged in behaviour. ---
def normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text):
        regex = re.compile(r"\b(a|an|the)\b", re.UNICODE)
        return re.sub(regex, " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def get_tokens(s):
    if not s:
        return []
    return normalize_answer(s).split()


def compute_exact(a_gold, a_pred):
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def compute_f1(a_gold, a_pred):
    gold_toks = get_tokens(a_gold)
    pred_toks = get_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        # If either is no-answer, then F1 is 1 if they agree, 0 otherwise
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1
# --- End of the official script's functions. ---


def squad_scores(prediction: str, answers: list[str]) -> tuple[float, float]:
    """(exact, f1) of one prediction: the max over the gold answers, as get_raw_scores does (gold answers
    that normalise to nothing are dropped; none left means unanswerable, whose only answer is "")."""
    gold_answers = [a for a in answers if normalize_answer(a)]
    if not gold_answers:
        gold_answers = [""]
    exact = max(compute_exact(a, prediction) for a in gold_answers)
    f1 = max(compute_f1(a, prediction) for a in gold_answers)
    return float(exact), float(f1)


_SCORER = None


def _rouge_scorer():
    global _SCORER
    if _SCORER is None:
        from rouge_score import rouge_scorer

        _SCORER = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    return _SCORER


def rouge_scores(prediction: str, reference: str) -> dict:
    """{"rouge1": (p, r, f), "rouge2": ..., "rougeL": ...} of a prediction against one reference."""
    scores = _rouge_scorer().score(reference, prediction)  # rouge-score's order: (target, prediction)
    return {k: (float(s.precision), float(s.recall), float(s.fmeasure)) for k, s in scores.items()}


def rouge_tokens(text):
    """rouge-score's tokens (lowercase, [a-z0-9] runs, Porter stems of tokens longer than 3 chars)."""
    return _rouge_scorer()._tokenizer.tokenize(text)


# ------------------------------------------------------------------------------------------------
# Fixture cases.

PORTER_WORDS = """caresses ponies ties caress cats feed agreed plastered bled motoring sing conflated troubled
sized hopping tanned falling hissing fizzed failing filing happy sky relational conditional rational valenci
hesitanci digitizer conformabli radicalli differentli vileli analogousli vietnamization predication operator
feudalism decisiveness hopefulness callousness formaliti sensitiviti sensibiliti triplicate formative
formalize electriciti electrical hopeful goodness revival allowance inference airliner gyroscopic adjustable
defensible irritant replacement adjustment dependent adoption homologou communism activate angulariti
homologous effective bowdlerize probate rate cease controll roll generously dying lying skies news innings
inning outings outing cannings canning howe proceed exceed succeed tying dies died flies spied tries cries
ied ies eed ing ed s ss y yy yyy yyyy syzygy toy toys enjoy enjoying fly spy try by sky generalli
generalization hopefulli fulli archaeology geology theology logi apologies biology eli elis ably
nationalization conditionally sensational rationalization traditional abilities possibilities cooperation
cooperative wholly oversees seeing knees bleed speed breed freed agreeing disagreed hurried worries
fried replied died lied tied pies horrified beautifully willingness playfully sizing hoping hopped
tanning rolling falls filled killed stressed misses classes glasses dresses buses gases fuzzes
caring cared rated dating hated mating motivated ironically basically logically musically
formalism realism rationally naturally actually totally equally relations nations national sky's
aaa zzz bbb xxyy 1990s 2017 24th 10th covid19 mp3 abc123 a1b2c3d4 chocolatey monkeys days payed
""".split()

SQUAD_HAND = [
    ("The Cat.", ["cat"]),
    ("cat", ["The Cat."]),
    ("a dog", ["the dog", "dog"]),
    ("An apple a day", ["apple day"]),
    ("  Denver   Broncos ", ["Denver Broncos"]),
    ("DENVER BRONCOS!!!", ["Denver Broncos", "the Broncos"]),
    ("Broncos", ["Denver Broncos", "the Denver Broncos", "Denver"]),
    ("", ["Denver Broncos"]),
    ("", []),
    ("Denver Broncos", []),
    ("", ["the", "."]),
    ("the", []),
    ("a an the", []),
    ("Denver", ["  ", "Denver"]),
    ("24-10", ["24–10"]),
    ("24-10", ["2410"]),
    ("well-known author", ["well known author", "wellknown author"]),
    ("U.S.A.", ["USA"]),
    ("$1,000,000", ["1000000 dollars", "$1 million"]),
    ("3.14", ["314"]),
    ("the the the cat", ["cat cat"]),
    ("cat cat dog", ["cat dog dog"]),
    ("theater", ["the ater"]),
    ("anatomy of a thesis", ["anatomy thesis"]),
    ("A", ["a"]),
    ("an", ["AN"]),
    ("tHe EnD", ["end"]),
    ("Saint-Jean-de-Luz", ["Saint Jean de Luz"]),
    ("rock 'n' roll", ["rock n roll", "rock and roll"]),
    ("(1066)", ["1066", "in 1066"]),
    ("\"quoted\"", ["quoted"]),
    ("tab\tseparated\nlines", ["tab separated lines"]),
    ("Beyoncé", ["BEYONCÉ"]),
    ("Frédéric Chopin", ["frederic chopin", "Chopin"]),
    ("“The Cat”", ["cat"]),
    ("the\u00a0cat", ["cat"]),
    ("ŁÓDŹ", ["łódź"]),
    ("İstanbul", ["i̇stanbul", "istanbul"]),
    ("МОСКВА", ["Москва"]),
    ("ΟΔΟΣ", ["οδος", "οδοσ"]),
    ("café a la carte", ["Café à la carte"]),
    ("a½ cup", ["½ cup"]),
    ("10\u202f°C", ["10 °c"]),
    ("1939–1945", ["1939-1945", "1939 1945"]),
    ("naïve—the approach", ["naïve approach", "naïve— approach"]),
]

ROUGE_HAND = [
    ("The quick brown dog jumps on the log.", "The quick brown fox jumps over the lazy dog"),
    ("", "a non-empty reference"),
    ("a non-empty prediction", ""),
    ("", ""),
    ("!!! ...", "the cat"),
    ("the cat sat on the mat", "the cat sat on the mat"),
    ("the the the the", "the cat"),
    ("cat", "cat"),
    ("Running runners ran; they run.", "The runner is running and runs"),
    ("In 2017, 300-500 jobs (£80m).", "£80m and 300 to 500 jobs by 2017"),
    ("Beyoncé's café in İstanbul, 5 \u212a", "beyonce cafe istanbul 5 k"),
    ("Ünïcödé wörds ärë splït", "unicode words are split"),
    ("don't can't won't it's", "do not can not will not it is"),
    ("e-mail e.g. U.S. co-operate", "email eg us cooperate"),
    ("GENERALIZATIONS about NATIONALIZATION", "generalization of the nationalizations"),
    ("a b a b a b", "b a b a"),
    ("one two three four five", "five four three two one"),
]


def load_xsum(n):
    with open(XSUM, encoding="utf-8") as f:
        return [json.loads(line) for _, line in zip(range(n), f)]


def xsum_rouge_pairs():
    """Lead-sentence predictions against the XSum reference summaries, plus summary-vs-summary pairs."""
    docs = load_xsum(30)
    pairs = []
    for d in docs[:20]:
        lead = d["document"].split("\n")[0]
        pairs.append((lead, d["summary"]))
    for a, b in zip(docs[20:25], docs[25:30]):
        pairs.append((a["summary"], b["summary"]))
        pairs.append((a["document"][:400], a["summary"]))
    return pairs


def squad_pairs():
    """Predictions made from SQuAD dev gold/plausible answers: exact, recased, truncated, padded, empty."""
    with open(SQUAD, encoding="utf-8") as f:
        data = json.load(f)["data"]
    qas = [qa for article in data for p in article["paragraphs"] for qa in p["qas"]]
    pairs = []
    for k, qa in enumerate(qas[::97]):
        answers = [a["text"] for a in qa["answers"]]
        plausible = [a["text"] for a in qa.get("plausible_answers", [])]
        source = answers or plausible or [""]
        first = source[k % len(source)]
        words = first.split()
        variants = [first, first.upper(), " ".join(words[: max(1, len(words) // 2)]),
                    "the answer is " + first + ".", ""]
        pairs.append((variants[k % len(variants)], answers))
        pairs.append((first.lower(), answers))
    return pairs


def stem_words():
    """NLTK-stemmed words: the first 20 XSum documents' distinct lowercase alphabetic tokens + PORTER_WORDS."""
    words = set(PORTER_WORDS)
    for d in load_xsum(20):
        words.update(re.findall(r"[a-z]+", d["document"].lower()))
    return sorted(words)


# The Unicode blocks whose case mapping and word/non-word class src/eval/squad_metric.cpp tables (outside them it
# lowercases nothing and counts every character as a word character).
TABLED_BLOCKS = [(0x80, 0x58F), (0x1E00, 0x1FFF), (0x2000, 0x2BFF), (0x3000, 0x303F), (0xFE30, 0xFE6F),
                 (0xFF00, 0xFFEF)]
# Where it tables the characters that decide Python's final-sigma lowercasing of U+03A3 (outside: neither).
SIGMA_BLOCKS = [(0x0, 0x58F), (0x1E00, 0x218F)]
_WORD_RE = re.compile(r"\w")


def _code_points(blocks):
    return [c for lo, hi in blocks for c in range(lo, hi + 1) if not 0xD800 <= c <= 0xDFFF]


def _add_to_ranges(ranges, c):
    if ranges and ranges[-1][1] == c - 1:
        ranges[-1][1] = c
    else:
        ranges.append([c, c])


def _case_ignorable(c):
    """Whether CPython's final-sigma rule skips c (probed through str.lower, which has no direct API)."""
    return ("ΑΣ" + chr(c)).lower()[1] == "ς" and ("ΑΣ" + chr(c) + "Α").lower()[1] == "σ"


def _cased(c):
    """Whether c is cased (for the c that are not case-ignorable; probed through str.lower)."""
    return ("ΑΣ" + chr(c)).lower()[1] == "σ"


def cxx_tables():
    """The C++ tables of squad_metric.cpp, from this Python's Unicode database: {first, last} ranges of
    non-word, cased and case-ignorable characters and {first, last, stride, delta} lowercase runs (U+0130
    and U+03A3 are handled in code)."""
    nonword, runs, cased, ignorable = [], [], [], []
    for c in _code_points(SIGMA_BLOCKS):
        if _case_ignorable(c):
            _add_to_ranges(ignorable, c)
        elif _cased(c):
            _add_to_ranges(cased, c)
    for c in _code_points(TABLED_BLOCKS):
        if not _WORD_RE.match(chr(c)):
            _add_to_ranges(nonword, c)
        low = chr(c).lower()
        if c in (0x130, 0x3A3) or low == chr(c):
            continue
        delta = ord(low) - c
        last = runs[-1] if runs else None
        # Extend the last run when the delta is the same and c continues its stride (a one-character run
        # may take stride 2: upper/lower pairs alternate).
        if last and last[3] == delta and (c - last[1] == last[2] or (last[0] == last[1] and c - last[1] == 2)):
            last[2] = c - last[1]
            last[1] = c
        else:
            runs.append([c, c, 1, delta])
    fmt = lambda rows: "\n".join(", ".join("{" + ", ".join(
        f"0x{v:04X}" if i < 2 else str(v) for i, v in enumerate(r)) + "}" for r in rows[k:k + 4])
        for k in range(0, len(rows), 4))
    tables = {"kNonWord": nonword, "kLowerRuns": runs, "kCased": cased, "kCaseIgnorable": ignorable}
    return "\n".join(f"// {name}\n{fmt(rows)}" for name, rows in tables.items())


def block(lo, hi):
    return "".join(chr(c) for c in range(lo, hi + 1) if not 0xD800 <= c <= 0xDFFF)


def probe_texts():
    """Texts for normalize_answer, character by character over the blocks squad_metric.cpp tables: every
    character (lowercasing), "a" before and "the" after each (word boundaries), and a capital sigma next to
    each (final-sigma context); then white space and odd cases."""
    texts = [" ".join(block(lo, hi)) for lo, hi in TABLED_BLOCKS]
    texts += ["ΟΔΟΣ ΣΟΦΙΑ ΟΔΟΣ. Σ ΑΣ'Α ΑΣ' ΑΣ1 ΆΣ", "ßtraße İİ \u212a \u2126 \u212b"]
    for lo, hi in TABLED_BLOCKS:
        texts.append(" ".join("a" + ch for ch in block(lo, hi)))
        texts.append(" ".join(ch + "the" for ch in block(lo, hi)))
    sigma_chars = [chr(c) for c in _code_points(SIGMA_BLOCKS) if c > 0x20]
    for pattern in ("ΑΣ{}", "ΑΣ{}Α", "{}Σ", "Α{}Σ"):
        texts.append(" ".join(pattern.format(ch) for ch in sigma_chars))
    texts += ["x\x1cy\x1dz\x1ew\x1fv \x85u\u1680t\u2028s\u2029r\u205fq\u3000p", "naïve the\u0301 a\u00adb",
              "   ", "", "The.", "a-an-the", "the_end", "Á Ё ǅ"]
    return texts


def build_fixture():
    from importlib import metadata

    from nltk.stem import porter

    stemmer = porter.PorterStemmer()
    squad = [(p, a) for p, a in SQUAD_HAND] + squad_pairs()
    rouge = list(ROUGE_HAND) + xsum_rouge_pairs()
    words = stem_words()
    token_texts = [p for p, _ in rouge] + [" ".join(PORTER_WORDS), "İİ \u212a Kelvin ǅ ﬁ"]
    return {
        "generator": "tools/eval_reference_metrics.py",
        "versions": {"python": sys.version.split()[0], "unicode": unicodedata.unidata_version,
                     "nltk": metadata.version("nltk"), "rouge_score": metadata.version("rouge-score")},
        "normalize_cases": [{"text": t, "normalized": normalize_answer(t)}
                            for t in probe_texts() + [p for p, _ in squad]],
        "squad_cases": [dict(zip(("prediction", "answers", "exact", "f1"), (p, a) + squad_scores(p, a)))
                        for p, a in squad],
        "rouge_tokenize_cases": [{"text": t, "tokens": rouge_tokens(t)} for t in token_texts],
        "rouge_cases": [{"prediction": p, "reference": r, **rouge_scores(p, r)} for p, r in rouge],
        "stems": [[w, stemmer.stem(w)] for w in words],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", help="fixture JSON path to write")
    ap.add_argument("--cxx-tables", action="store_true", help="print the Unicode tables of squad_metric.cpp")
    args = ap.parse_args()
    if args.cxx_tables:
        print(cxx_tables())
        return
    if not args.write:
        ap.error("give --write PATH or --cxx-tables")
    fixture = build_fixture()
    Path(args.write).parent.mkdir(parents=True, exist_ok=True)
    with open(args.write, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    counts = {k: len(v) for k, v in fixture.items() if isinstance(v, list)}
    print(f"wrote {args.write}: {counts}")


if __name__ == "__main__":
    main()
