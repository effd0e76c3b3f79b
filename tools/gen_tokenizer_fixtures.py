#!/usr/bin/env python3
"""Writes the tokenizer test fixtures under data/fixtures/ (references for tests/tokenizer).

Run with the project venv:  /root/.cache/dsla/torch-2.11.0/bin/python tools/gen_tokenizer_fixtures.py

It trains two small byte-level BPE tokenizers with HF `tokenizers` on the shared TinyStories sample
(tokenizer_smol_like.json: SmolLM2-style Digits + ByteLevel; tokenizer_llama3_like.json: Llama-3-style
Split regex + ByteLevel, NFC, a BOS template, "a b" merges and edge-case added tokens), hand-writes a tiny
byte_fallback tokenizer (tokenizer_fallback.json), and records into tokenizer_ids.json the ids that python
sentencepiece (stories260K tokenizer.model) and `tokenizers` (each tokenizer.json, plus the converted
SmolLM2-135M-Instruct one when present) give for a list of test strings.
"""
import json
import os
import sys
import unicodedata
from pathlib import Path

import sentencepiece
import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
from tokenizers import processors, trainers

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "data" / "fixtures"
ASSETS = Path(os.environ.get("DSLA_ASSETS", REPO.parent / "shared" / "assets"))
CACHE = Path(os.environ.get("DSLA_CACHE_DIR", Path.home() / ".cache" / "dsla"))
SMOLLM2_DIR = Path(os.environ.get("DSLA_SMOLLM2_DIR", CACHE / "models" / "SmolLM2-135M-Instruct"))
TRAIN_TEXT = ASSETS / "datasets" / "tinystories_val_sample" / "tinystories_val.txt"
SPM_MODEL = ASSETS / "stories260K" / "hf" / "tokenizer.model"

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                  r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

STRINGS = [
    "",
    "Hello world",
    "Once upon a time, there was a little girl named Lily.",
    "  leading spaces",
    "trailing spaces   ",
    "multiple   spaces  between words",
    "tabs\tand\nnewlines\n\nhere",
    "\n",
    " ",
    "\t\t",
    "12345678",
    "3.14159 and 2,000,000 and 007",
    "don't can't I'm you're we've they'll he'd",
    "DON'T SHOUT IT'S LOUD",
    "Café naïve résumé",
    "e\u0301 decomposed accent",
    "日本語のテキストです。",
    "中文测试，很好。",
    "한국어 문장",
    "emoji 😀👍🏽🎉 end",
    "Ελληνικά και русский текст",
    "def f(x):\n    return x**2  # square\n",
    "if (a != b) { return a->c[0]; }",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>",
    "text<|endoftext|>more text",
    "a\u00a0b non-breaking",
    "line\r\nwindows\r\n",
    "   \t  \n mixed whitespace",
    "x² and ³ and ½ and ٣",
    "https://example.com/path?q=1&r=2#frag",
    "ÀÉÎÕÜ àéîõü",
    "ﬁ ligature and ＡＢＣ fullwidth",
    "say <mask> now and <mask>then",
    "a[SW]b and [SW] alone",
    "say hello there friend",
    "The quick brown fox jumps over the lazy dog. " * 3,
]


def train_bpe(pre_tokenizer, special_tokens, vocab_size=2000):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_tokens,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train([str(TRAIN_TEXT)], trainer)
    return tok


def make_smol_like(path):
    pre = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok = train_bpe(pre, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.save(str(path))


def make_llama3_like(path):
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok = train_bpe(pre, ["<|begin_of_text|>", "<|end_of_text|>"])
    tok.normalizer = normalizers.NFC()
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False)])
    tok.add_tokens([AddedToken("[SW]", single_word=True, normalized=False),
                    AddedToken(" hello there", normalized=True)])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                      pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    tok.save(str(path))
    # Exercise the other merges spelling ("a b" strings) and ignore_merges, as Llama-3 ships them.
    spec = json.loads(path.read_text())
    spec["model"]["merges"] = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    spec["model"]["ignore_merges"] = True
    path.write_text(json.dumps(spec, ensure_ascii=False, indent=1))


def make_fallback(path):
    """A hand-written BPE whose vocab lacks most characters: exercises byte_fallback and merges."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<unk>": 0}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    letters = sorted(c for c in alphabet if c.isascii() and c.isalpha()) + ["Ġ"]
    for c in letters:
        vocab[c] = len(vocab)
    merges = [("t", "h"), ("th", "e"), ("Ġ", "the"), ("Ġ", "a"), ("o", "n"), ("Ġ", "on")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    spec = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": False,
                  "byte_fallback": True, "ignore_merges": False, "vocab": vocab,
                  "merges": [list(m) for m in merges]},
    }
    path.write_text(json.dumps(spec, ensure_ascii=False, indent=1))


def ids_digest(ids):
    """Count and FNV-1a 64 over the ids as little-endian int64 (tests/tokenizer recomputes it)."""
    h = 0xcbf29ce484222325
    for i in ids:
        for byte in int(i).to_bytes(8, "little", signed=True):
            h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return {"count": len(ids), "fnv1a64": f"{h:016x}"}


def corpus_text():
    return TRAIN_TEXT.read_text(encoding="utf-8")


def bpe_entry(name, tokenizer_path, location):
    tok = Tokenizer.from_file(str(tokenizer_path))
    ids = [tok.encode(s, add_special_tokens=False).ids for s in STRINGS]
    return {
        "corpus": ids_digest(tok.encode(corpus_text(), add_special_tokens=False).ids),
        "name": name,
        "location": location,
        "ids": ids,
        "ids_with_special": [tok.encode(s, add_special_tokens=True).ids for s in STRINGS],
        "decoded": [tok.decode(i, skip_special_tokens=False) for i in ids],
        "decoded_skip_special": [tok.decode(i, skip_special_tokens=True) for i in ids],
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
    }


def main():
    FIXTURES.mkdir(parents=True, exist_ok=True)
    made = {"smol_like": FIXTURES / "tokenizer_smol_like.json",
            "llama3_like": FIXTURES / "tokenizer_llama3_like.json",
            "fallback": FIXTURES / "tokenizer_fallback.json"}
    make_smol_like(made["smol_like"])
    make_llama3_like(made["llama3_like"])
    make_fallback(made["fallback"])
    entries = [bpe_entry(name, path, {"fixtures": path.name}) for name, path in made.items()]
    smol_json = SMOLLM2_DIR / "tokenizer.json"
    if smol_json.exists():
        entries.append(bpe_entry("smollm2", smol_json, {"smollm2_dir": "tokenizer.json"}))
    else:
        print(f"note: {smol_json} not found; SmolLM2 ids not recorded", file=sys.stderr)

    sp = sentencepiece.SentencePieceProcessor(model_file=str(SPM_MODEL))
    fixture = {
        "generator": "tools/gen_tokenizer_fixtures.py",
        "versions": {"python": sys.version.split()[0], "tokenizers": tokenizers.__version__,
                     "sentencepiece": sentencepiece.__version__,
                     "unicodedata": unicodedata.unidata_version},
        "strings": STRINGS,
        "corpus": "datasets/tinystories_val_sample/tinystories_val.txt",
        "sentencepiece": {"location": {"stories260k_dir": "tokenizer.model"},
                          "corpus": ids_digest(sp.encode(corpus_text())),
                          "ids": [sp.encode(s) for s in STRINGS],
                          "decoded": [sp.decode(sp.encode(s)) for s in STRINGS]},
        "bpe": entries,
    }
    out = FIXTURES / "tokenizer_ids.json"
    out.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n")
    for path in list(made.values()) + [out]:
        print(f"wrote {path.relative_to(REPO)} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
