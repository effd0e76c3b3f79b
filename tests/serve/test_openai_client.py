#!/usr/bin/env python3
# The official openai Python client, unmodified, against a running `dsla serve`: every endpoint and mode clients use.
"""Usage: test_openai_client.py PORT MODEL_NAME

Models list/retrieve (and the 404 for another model); completions plain, streamed with include_usage, with logprobs,
echo-only scoring with max_tokens 0; chat plain, streamed, with content parts and the developer role; and the
refusals (n > 1, penalties) raised as openai.BadRequestError. Exits non-zero on the first failed check.
"""
import sys

import openai


def main() -> int:
    port, name = int(sys.argv[1]), sys.argv[2]
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=120)

    assert [m.id for m in client.models.list()] == [name]
    assert client.models.retrieve(name).id == name
    try:
        client.models.retrieve("gpt-4o")
        raise AssertionError("an unknown model was found")
    except openai.NotFoundError:
        pass

    c = client.completions.create(model=name, prompt="Once upon a time", max_tokens=8, temperature=0)
    assert c.choices[0].text and c.usage.completion_tokens == 8, c
    chunks = list(client.completions.create(model=name, prompt="Once upon a time", max_tokens=8, temperature=0,
                                            stream=True, stream_options={"include_usage": True}))
    streamed = "".join(ch.choices[0].text for ch in chunks if ch.choices)
    assert streamed == c.choices[0].text, (streamed, c.choices[0].text)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8, chunks[-1]
    lp = client.completions.create(model=name, prompt="Once upon a time", max_tokens=4, temperature=0, logprobs=2)
    lps = lp.choices[0].logprobs
    assert len(lps.tokens) == 4 and all(len(t) == 2 for t in lps.top_logprobs), lps
    assert all(v == max(t.values()) for v, t in zip(lps.token_logprobs, lps.top_logprobs)), lps  # greedy
    echo = client.completions.create(model=name, prompt="Once upon a time", max_tokens=0, echo=True, logprobs=1)
    e = echo.choices[0]
    assert e.text == "Once upon a time" and e.logprobs.token_logprobs[0] is None, e
    assert all(v is not None and v <= 0 for v in e.logprobs.token_logprobs[1:]), e

    messages = [{"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Tell me a story."}]}]
    chat = client.chat.completions.create(model=name, messages=messages, max_tokens=8, temperature=0)
    assert chat.choices[0].message.role == "assistant" and chat.choices[0].message.content, chat
    plain = client.chat.completions.create(
        model=name, max_tokens=8, temperature=0,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me a story."}])
    assert plain.choices[0].message.content == chat.choices[0].message.content
    stream = client.chat.completions.create(model=name, messages=messages, max_tokens=8, temperature=0, stream=True)
    text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
    assert text == chat.choices[0].message.content, (text, chat.choices[0].message.content)

    for bad in ({"n": 2}, {"presence_penalty": 0.5}, {"frequency_penalty": 0.5}):
        try:
            client.completions.create(model=name, prompt="x", max_tokens=2, **bad)
            raise AssertionError(f"accepted {bad}")
        except openai.BadRequestError as err:
            assert err.status_code == 400, err
    print("PASS: the openai client works against dsla serve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
