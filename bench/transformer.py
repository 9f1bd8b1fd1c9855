#!/usr/bin/env python3
"""PyTorch's side of the Transformer benchmark (bench/transformer_compare.py runs it next to
bench/transformer.cc): the same translation model on torch.nn.Transformer, one JSON line on stdout.

The model is what attn's models::TransformerModel computes: token embeddings * sqrt(d_model) plus
sinusoidal positions, dropout, nn.Transformer (post-LN, ReLU, batch_first, final LayerNorms as
nn.Transformer builds them), the output projection tied to the target embedding, label-smoothed
cross-entropy (pad ignored), Adam (betas 0.9 / 0.98, eps 1e-9).

  train  --seconds S --threads T: training on random batches (source and target --len tokens, no
         padding); target tokens per second and the median milliseconds per phase.
  decode --seconds S --threads T --steps K: greedy decoding at batch 1 as in the PyTorch tutorial
         "Language Translation with nn.Transformer and torchtext": encode once, then every step
         runs the decoder over the whole prefix (no cache) and takes the argmax of the last
         position; K tokens per sentence (eos never ends a sentence early, as on attn's side).
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, BOS, EOS = 0, 1, 2


def sinusoidal(n, d):
    pe = torch.zeros(n, d, dtype=torch.float64)
    pos = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-math.log(10000.0) / d))
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe.float()


class Seq2SeqTransformer(nn.Module):
    def __init__(self, vocab, d_model, nhead, layers, ff, dropout):
        super().__init__()
        self.d_model = d_model
        self.src_embed = nn.Embedding(vocab, d_model, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(vocab, d_model, padding_idx=PAD)
        for e in (self.src_embed, self.tgt_embed):
            nn.init.normal_(e.weight, 0.0, d_model ** -0.5)
            with torch.no_grad():
                e.weight[PAD].zero_()
        self.register_buffer("pe", sinusoidal(512, d_model))
        self.dropout = nn.Dropout(dropout)
        self.transformer = nn.Transformer(d_model, nhead, layers, layers, ff, dropout, batch_first=True)
        self.out_bias = nn.Parameter(torch.zeros(vocab))

    def embed(self, emb, tokens):
        return self.dropout(emb(tokens) * math.sqrt(self.d_model) + self.pe[: tokens.size(1)])

    def encode(self, src, src_mask):
        return self.transformer.encoder(self.embed(self.src_embed, src), src_key_padding_mask=src_mask)

    def decode(self, tgt_in, memory, src_mask):
        T = tgt_in.size(1)
        causal = self.transformer.generate_square_subsequent_mask(T)
        h = self.transformer.decoder(self.embed(self.tgt_embed, tgt_in), memory, tgt_mask=causal,
                                     memory_key_padding_mask=src_mask)
        return F.linear(h, self.tgt_embed.weight, self.out_bias)

    def forward(self, src, src_mask, tgt_in):
        return self.decode(tgt_in, self.encode(src, src_mask), src_mask)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["train", "decode"])
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--nhead", type=int, default=4)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--ff", type=int, default=1024)
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--len", type=int, default=20)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--smoothing", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--steps", type=int, default=25, help="decode: tokens per sentence")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = Seq2SeqTransformer(a.vocab, a.d_model, a.nhead, a.layers, a.ff, a.dropout)
    gen = torch.Generator().manual_seed(a.seed + 1)

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    if a.mode == "train":
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.98), eps=1e-9)
        B, T = a.batch, a.len
        pool = []
        for _ in range(8):
            src = torch.randint(3, a.vocab, (B, T), generator=gen)
            tgt = torch.randint(3, a.vocab, (B, T), generator=gen)
            tgt_in = torch.cat([torch.full((B, 1), BOS), tgt[:, :-1]], 1)
            pool.append((src, tgt_in, tgt))
        src_mask = torch.zeros(B, T, dtype=torch.bool)
        fwd, bwd, stp, tot = [], [], [], []
        loss_value = 0.0

        def step(i, record):
            nonlocal loss_value
            src, tgt_in, tgt = pool[i % len(pool)]
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            logits = model(src, src_mask, tgt_in)
            loss = F.cross_entropy(logits.reshape(-1, a.vocab), tgt.reshape(-1), ignore_index=PAD,
                                   label_smoothing=a.smoothing)
            loss_value = loss.item()
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            opt.step()
            t3 = time.perf_counter()
            if record:
                fwd.append(1e3 * (t1 - t0))
                bwd.append(1e3 * (t2 - t1))
                stp.append(1e3 * (t3 - t2))
                tot.append(1e3 * (t3 - t0))

        i = 0
        for _ in range(a.warmup):
            step(i, False)
            i += 1
        c0, w0, steps = cpu(), time.perf_counter(), 0
        while time.perf_counter() - w0 < a.seconds or steps < 3:
            step(i, True)
            i += 1
            steps += 1
        wall, cpus = time.perf_counter() - w0, cpu() - c0
        print(json.dumps({"library": "PyTorch", "mode": "train", "threads": a.threads, "batch": B, "len": T,
                          "vocab": a.vocab, "parameters": sum(p.numel() for p in model.parameters()),
                          "steps": steps, "seconds": round(wall, 3), "cpu_seconds": round(cpus, 3),
                          "tokens_per_s": round(steps * B * T / wall, 2),
                          "step_ms_median": round(statistics.median(tot), 2),
                          "forward_ms_median": round(statistics.median(fwd), 2),
                          "backward_ms_median": round(statistics.median(bwd), 2),
                          "optimizer_ms_median": round(statistics.median(stp), 2), "loss": round(loss_value, 4)}))
        return

    model.eval()
    srcs = [torch.randint(3, a.vocab, (1, a.len), generator=gen) for _ in range(16)]
    src_mask = torch.zeros(1, a.len, dtype=torch.bool)
    per, tokens = [], 0

    def greedy(src):
        memory = model.encode(src, src_mask)
        ys = torch.full((1, 1), BOS, dtype=torch.long)
        for _ in range(a.steps):
            logits = model.decode(ys, memory, src_mask)[:, -1]
            logits[:, EOS] = -math.inf  # the sentence runs its full length (min_length on attn's side)
            nxt = logits.argmax(1, keepdim=True)
            ys = torch.cat([ys, nxt], 1)
        return ys[0, 1:]

    with torch.no_grad():
        i = 0
        for _ in range(a.warmup):
            greedy(srcs[i % len(srcs)])
            i += 1
        c0, w0, n = cpu(), time.perf_counter(), 0
        while time.perf_counter() - w0 < a.seconds or n < 3:
            t0 = time.perf_counter()
            tokens += greedy(srcs[i % len(srcs)]).numel()
            per.append(1e3 * (time.perf_counter() - t0))
            i += 1
            n += 1
        wall, cpus = time.perf_counter() - w0, cpu() - c0
    print(json.dumps({"library": "PyTorch", "mode": "decode", "threads": a.threads, "len": a.len, "steps": a.steps,
                      "sentences": n, "tokens": tokens, "seconds": round(wall, 3), "cpu_seconds": round(cpus, 3),
                      "tokens_per_s": round(tokens / wall, 2), "sentence_ms_median": round(statistics.median(per), 3)}))


if __name__ == "__main__":
    main()
