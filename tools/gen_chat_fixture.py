#!/usr/bin/env python3
"""Writes data/fixtures/chat_template_smollm2.json: SmolLM2's chat template and HF transformers'
renderings of a few conversations (apply_chat_template, add_generation_prompt=True), the reference for
dsla's ChatML renderer.

Usage: tools/gen_chat_fixture.py [MODEL_DIR]   (default ~/.cache/dsla/models/SmolLM2-135M-Instruct;
run with the venv's python: ~/.cache/dsla/torch-2.11.0/bin/python)
"""
import json
import os
import sys

import transformers
from transformers import AutoTokenizer

model_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/dsla/models/SmolLM2-135M-Instruct")
tok = AutoTokenizer.from_pretrained(model_dir)
conversations = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Sky colour?"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
     {"role": "user", "content": "Tell me a story\nabout a cat."}],
]
cases = [{"messages": m, "expected": tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True)}
         for m in conversations]
out = {"source": f"transformers {transformers.__version__} apply_chat_template on {os.path.basename(model_dir)}",
       "chat_template": tok.chat_template, "cases": cases}
path = os.path.join(os.path.dirname(__file__), "..", "data", "fixtures", "chat_template_smollm2.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1, ensure_ascii=False)
    f.write("\n")
print("wrote", path)
