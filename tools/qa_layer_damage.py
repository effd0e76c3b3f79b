#!/usr/bin/env python3
"""What converting each layer alone costs on a generation task's gold answers, and the order it implies.

For every layer L of a fully converted export (dsla export --stage <all>, loaded through its remote code), the
teacher with only L's attention replaced by the export's trained DSLA layer scores the gold answers of a task's
prompts (teacher-forced): the mean per-token NLL of the answer and KL(teacher || hybrid) at the answer positions.
Parallel attention transfer fits every layer on the teacher's own inputs, so a layer's trained weights do not depend
on the order; the KL ranks the layers for `distill.order: list` (lowest first).

Prompts come from a `dsla eval` per-example file (EVAL_OUT/<model>/<task>.jsonl: prompt, references, add_bos).

  tools/qa_layer_damage.py TEACHER EXPORT ITEMS.jsonl OUT.jsonl [--items N] [--plot OUT.png]
  tools/qa_layer_damage.py --replot OUT.jsonl --plot OUT.png [--entropy-from EXPORT]
"""
import argparse
import json
import sys
import time


def load_items(path, n, tok):
    """[(ids [1, P + A], P)] for the first n items: BOS + prompt + " " + first reference."""
    import torch
    out = []
    for line in list(open(path))[:n]:
        it = json.loads(line)
        prompt = tok(it["prompt"], add_special_tokens=False)["input_ids"]
        full = tok(it["prompt"] + " " + it["references"][0], add_special_tokens=False)["input_ids"]
        bos = [tok.bos_token_id] if it.get("add_bos", True) else []
        out.append((torch.tensor([bos + full]), len(prompt) + len(bos)))
    return out


def answer_log_probs(model, ids, start):
    """Log-probabilities [A, V] of the answer tokens ids[0, start:] given everything before them."""
    keep = ids.shape[1] - start + 1
    return model(ids, use_cache=False, logits_to_keep=keep).logits[0, :-1].float().log_softmax(-1)


def measure(args):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    torch.set_num_threads(args.threads)
    tok = AutoTokenizer.from_pretrained(args.teacher)
    teacher = AutoModelForCausalLM.from_pretrained(args.teacher, dtype=torch.float32).eval()
    hybrid = AutoModelForCausalLM.from_pretrained(args.export, trust_remote_code=True, dtype=torch.float32).eval()
    layers = hybrid.config.num_hidden_layers
    converted = set(hybrid.config.dsla_layers)
    if converted != set(range(layers)):
        sys.exit(f"{args.export}: converts layers {sorted(converted)}; export every layer (--stage {layers})")
    items = load_items(args.items_file, args.items, tok)
    dsla_attn = [hybrid.model.layers[i].self_attn for i in range(layers)]
    teacher_attn = [teacher.model.layers[i].self_attn for i in range(layers)]
    with torch.no_grad():
        reference = [answer_log_probs(teacher, ids, start) for ids, start in items]
    answer_tokens = sum(ids.shape[1] - start for ids, start in items)

    def score(replaced):
        for i in range(layers):
            hybrid.model.layers[i].self_attn = dsla_attn[i] if i in replaced else teacher_attn[i]
        hybrid.model.dsla_layers = sorted(replaced)
        nll = kl = 0.0
        with torch.no_grad():
            for (ids, start), ref in zip(items, reference):
                lp = answer_log_probs(hybrid, ids, start)
                nll -= lp.gather(1, ids[0, start:, None]).sum().item()
                kl += (ref.exp() * (ref - lp)).sum().item()
        return nll / answer_tokens, kl / answer_tokens

    t0 = time.time()
    with open(args.out, "w") as f:
        for layer in [None] + list(range(layers)):
            nll, kl = score(set() if layer is None else {layer})
            f.write(json.dumps({"layer": layer, "nll": nll, "kl": kl}) + "\n")
            f.flush()
            print(f"layer {layer}: answer NLL {nll:.4f}, KL {kl:.4f} ({time.time() - t0:.0f} s)", flush=True)


def report(args):
    rows = [json.loads(line) for line in open(args.out)]
    per_layer = {r["layer"]: r for r in rows if r["layer"] is not None}
    order = sorted(per_layer, key=lambda layer: (per_layer[layer]["kl"], layer))
    print("order (lowest KL first): " + ",".join(str(layer) for layer in order))
    print(f"distill.layers=[{','.join(str(layer) for layer in order)}]")
    if not args.plot:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    layers = sorted(per_layer)
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.bar(layers, [per_layer[layer]["kl"] for layer in layers], color="tab:blue", label="KL at the answers")
    if args.entropy_from:
        cfg = json.load(open(f"{args.entropy_from}/config.json"))["dsla"]["sensitivity"]
        first = cfg["order"][: len(layers) // 2]
        ax.bar(first, [per_layer[layer]["kl"] for layer in first], color="tab:red",
               label="first half of the entropy order")
    ax.set_xlabel("layer converted alone")
    ax.set_ylabel("KL(teacher || hybrid) per answer token")
    ax.set_title("What converting one layer costs on the gold answers")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)
    print(f"plot: {args.plot}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("teacher", nargs="?")
    p.add_argument("export", nargs="?")
    p.add_argument("items_file", nargs="?")
    p.add_argument("out", nargs="?")
    p.add_argument("--items", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--plot")
    p.add_argument("--replot", metavar="OUT.jsonl")
    p.add_argument("--entropy-from", metavar="EXPORT", help="mark the first half of this export's entropy order")
    args = p.parse_args()
    if args.replot:
        args.out = args.replot
    elif None in (args.teacher, args.export, args.items_file, args.out):
        p.error("TEACHER EXPORT ITEMS.jsonl OUT.jsonl are required without --replot")
    else:
        measure(args)
    report(args)


if __name__ == "__main__":
    main()
