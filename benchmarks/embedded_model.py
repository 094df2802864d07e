"""Embedded model speed through the seam versus llama.cpp called directly, in one run.

``python benchmarks/embedded_model.py`` prints: model file readiness time, model load time,
prompt and decode tokens/s through :class:`actor.llm.local.LocalChatModel` (wall clock from the
stream: prompt = time to first token, decode = the remaining tokens over the remaining time)
and through ``llama_cpp.Llama`` directly (the same context, the same prompt, streamed the same
way, plus llama.cpp's own perf counters), the ratio seam / direct, and the peak RSS.

Every run starts with an empty KV cache (``Llama.reset()``), so the prompt is evaluated in full.

``--configs`` also loads the model directly with other runtime settings (batch / micro-batch
size, flash attention, KV cache type) and prints their prompt and decode rates from llama.cpp's
own counters, so the seam's settings can be compared with the best one in the same run;
``--slices`` prints what evaluating a prompt in slices costs (background work gives way to the
customer between two slices, :data:`actor.llm.local.SLICE_TOKENS`) and what a slot switch
(saving one KV state and restoring another) takes.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

from langchain_core.messages import HumanMessage, SystemMessage

from actor.config import Settings
from actor.llm import chat_model
from actor.llm.modelfile import ensure_embedded_model

SYSTEM = (
    "You play an irritated customer at a parcel service counter. Your parcel has been missing for "
    "a week and this is your third visit. Speak in short, spoken sentences. Never speak as the "
    "employee. " * 6
)
USER = "Employee: Good afternoon, how can I help you? Please describe your problem in detail."


def rates(start: float, first: float, end: float, n_prompt: int, n_out: int) -> tuple[float, float]:
    """(prompt tok/s, decode tok/s) from stream timestamps in seconds."""
    prompt = n_prompt / (first - start)
    decode = (n_out - 1) / (end - first) if n_out > 1 and end > first else float("nan")
    return prompt, decode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--configs", action="store_true", help="also time other runtime settings directly")
    parser.add_argument("--slices", action="store_true", help="also time sliced prompt evaluation and slot switches")
    args = parser.parse_args()

    settings = Settings()
    t = time.perf_counter()
    ensure_embedded_model(settings.model_cache_dir)
    ready = time.perf_counter() - t
    model = chat_model("persona", settings)
    loaded = model.loaded()
    llama = loaded.llama
    messages = [SystemMessage(SYSTEM), HumanMessage(USER)]
    chat = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    kw = dict(temperature=0.0, max_tokens=args.tokens, seed=0)

    llama.reset()
    model.invoke(messages, **kw)  # warm-up (page cache, allocations), not measured
    seam, direct, perf = [], [], []
    for _ in range(args.runs):
        # through the seam
        llama.reset()
        start = time.perf_counter()
        first = None
        n_out = 0
        for chunk in model.stream(messages, **kw):
            if chunk.text:
                n_out += 1
                last = time.perf_counter()
                first = first or last
        end = last  # decode rate from first to last token; bookkeeping after the stream is excluded
        n_prompt = llama.n_tokens - n_out  # tokens evaluated for the prompt
        seam.append(rates(start, first, end, n_prompt, n_out))
        # the runtime directly, same context
        llama.reset()
        start = time.perf_counter()
        first = None
        n_out = 0
        for part in llama.create_chat_completion(messages=chat, stream=True, temperature=0.0, max_tokens=args.tokens, seed=0,
                                            top_p=model.top_p, repeat_penalty=model.repeat_penalty):
            if part["choices"][0]["delta"].get("content"):
                n_out += 1
                last = time.perf_counter()
                first = first or last
        end = last
        direct.append(rates(start, first, end, n_prompt, n_out))
        import llama_cpp

        p = llama_cpp.llama_perf_context(llama.ctx)
        perf.append((p.n_p_eval / (p.t_p_eval_ms / 1000) if p.t_p_eval_ms else float("nan"),
                     p.n_eval / (p.t_eval_ms / 1000) if p.t_eval_ms else float("nan")))
        llama_cpp.llama_perf_context_reset(llama.ctx)

    def med(rows, i):
        return statistics.median(r[i] for r in rows)

    print(f"model: {model.model_name}, {settings.n_threads} threads, n_ctx {settings.local_n_ctx}")
    print(f"model file ready: {ready:.2f} s   model load: {loaded.load_seconds:.2f} s")
    print(f"prompt: {n_prompt} tokens; reply: up to {args.tokens} tokens; {args.runs} runs, medians")
    print(f"{'':28s}{'prompt tok/s':>14s}{'decode tok/s':>14s}")
    print(f"{'seam (LocalChatModel)':28s}{med(seam, 0):14.1f}{med(seam, 1):14.1f}")
    print(f"{'llama.cpp direct':28s}{med(direct, 0):14.1f}{med(direct, 1):14.1f}")
    print(f"{'llama.cpp perf counters':28s}{med(perf, 0):14.1f}{med(perf, 1):14.1f}")
    print(f"{'ratio seam / direct':28s}{med(seam, 0) / med(direct, 0):14.2f}{med(seam, 1) / med(direct, 1):14.2f}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if args.slices:
        slices(loaded)
    if args.configs:
        configs(loaded.llama.model_path, settings, chat, args.tokens, (med(perf, 0), med(perf, 1)))


def slices(loaded) -> None:
    """Prompt rate when a 256-token prompt is evaluated in slices, and the cost of a slot switch."""
    llama = loaded.llama
    tokens = llama.tokenize((SYSTEM * 2).encode(), add_bos=False)[:256]
    print("\nsliced prompt evaluation (background work checks for the customer between slices):")
    print(f"{'slice tokens':>12s}{'tok/s':>10s}{'s per slice':>13s}")
    full = None
    for size in (512, 64, 32, 16, 8):
        llama.reset()
        start = time.perf_counter()
        for i in range(0, len(tokens), size):
            llama.eval(tokens[i:i + size])
        seconds = time.perf_counter() - start
        rate = len(tokens) / seconds
        full = full or rate
        print(f"{size:12d}{rate:10.1f}{min(size, len(tokens)) / rate:13.2f}   ({rate / full:.2f} of unsliced)")
    loaded.use_slot("bench-a")
    llama.reset()
    llama.eval(tokens)
    start = time.perf_counter()
    loaded.use_slot("bench-b")  # saves a (256 tokens), b empty
    switch = time.perf_counter() - start
    llama.eval(tokens[:64])
    start = time.perf_counter()
    loaded.use_slot("bench-a")  # saves b, restores a
    switch = (switch + time.perf_counter() - start) / 2
    size = len(loaded.saved["bench-b"].data)
    print(f"slot switch (save one KV state, restore another): {switch * 1000:.0f} ms; "
          f"saved state of 64 tokens: {size / 1024:.0f} KiB; 256-token state restored with {llama.n_tokens} tokens")


def configs(path: str, settings, chat: list[dict], max_tokens: int, seam: tuple[float, float]) -> None:
    """Prompt and decode rates (llama.cpp counters) of other runtime settings, loaded directly."""
    import llama_cpp
    from llama_cpp import Llama

    from actor.llm.local import without_amx_buffers

    print("\nruntime settings, loaded directly (llama.cpp's own counters; the seam's context above: "
          f"{seam[0]:.1f} / {seam[1]:.1f} tok/s):")
    print(f"{'setting':44s}{'prompt tok/s':>14s}{'decode tok/s':>14s}")
    options = {
        "n_batch 512, n_ubatch 512 (the seam's)": {},
        "n_batch 512, n_ubatch 128": {"n_ubatch": 128},
        "n_batch 2048, n_ubatch 512": {"n_batch": 2048},
        "flash attention": {"flash_attn": True},
        "flash attention, KV cache q8_0": {"flash_attn": True, "type_k": 8, "type_v": 8},
        "1 thread": {"n_threads": 1, "n_threads_batch": 1},
    }
    for name, extra in options.items():
        kw = {"n_ctx": settings.local_n_ctx, "n_threads": settings.n_threads, "n_threads_batch": settings.n_threads,
              "n_batch": 512, "verbose": False, **extra}
        try:
            with without_amx_buffers():  # as the seam loads it (an AMX CPU crashes otherwise)
                llama = Llama(model_path=path, **kw)
        except Exception as exc:  # a setting this build does not support
            print(f"{name:44s}  not supported: {exc}")
            continue
        rows = []
        for _ in range(2):
            llama.reset()
            llama_cpp.llama_perf_context_reset(llama.ctx)
            llama.create_chat_completion(messages=chat, temperature=0.0, max_tokens=max_tokens, seed=0)
            p = llama_cpp.llama_perf_context(llama.ctx)
            rows.append((p.n_p_eval / (p.t_p_eval_ms / 1000), p.n_eval / (p.t_eval_ms / 1000)))
        llama.close()
        print(f"{name:44s}{max(r[0] for r in rows):14.1f}{max(r[1] for r in rows):14.1f}")


if __name__ == "__main__":
    main()
