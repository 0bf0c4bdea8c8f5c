"""Time llm-analysis (the fastest peer) on the configurations bench_estimate.py times costmodel on.

    PEER_PYTHON benchmarks/peer_llm_analysis.py CASE CALLS

Run under an interpreter that has ``llm-analysis`` (0.2.2 on PyPI; it brings transformers 4.31,
so it is kept out of the project's environment: ``python -m venv /tmp/peer && /tmp/peer/bin/pip
install llm-analysis==0.2.2``). Prints the CPU microseconds per call of CALLS calls of CASE
(``training`` or ``inference``), after one untimed call. A call is the peer's one-call API
(``llm_analysis.analysis.train`` / ``infer``: the model, GPU and dtype looked up by name, the
analysis built and run), the counterpart of one ``estimate_training`` / ``estimate_inference``;
it needs an MFU (``flops_efficiency``) and a batch where costmodel derives them.
"""

from __future__ import annotations

import logging
import sys
import time


def main() -> None:
    case, calls = sys.argv[1], int(sys.argv[2])
    import llm_analysis.analysis as peer
    from llm_analysis.logger import logger

    logger.setLevel(logging.ERROR)
    if case == "training":  # GPT-3 175B on V100s (costmodel: gpt3-175b, v100-sxm2-32gb)
        def call():
            return peer.train(model_name="megatron-lm-175b", gpu_name="v100-sxm-32gb", log_level="ERROR",
                              total_num_tokens=300e9, total_num_gpus=1024, tp_size=8, pp_size=8,
                              global_batch_size=1536, seq_len=2048, batch_size_per_gpu=1,
                              activation_recomputation=2, flops_efficiency=0.3)
    else:  # Llama-2-70B on four H100s, batch 8, 512 tokens in and 256 out
        def call():
            return peer.infer(model_name="upstage_Llama-2-70b-instruct-v2", gpu_name="h100-sxm-80gb",
                              log_level="ERROR", tp_size=4, batch_size_per_gpu=8, seq_len=512,
                              num_tokens_to_generate=256, flops_efficiency=0.5, hbm_memory_efficiency=0.8)
    call()
    start = time.process_time()
    for _ in range(calls):
        call()
    print((time.process_time() - start) / calls * 1e6)


if __name__ == "__main__":
    main()
