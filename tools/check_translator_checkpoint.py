#!/usr/bin/python3
"""Reads an attn translator checkpoint with PyTorch and, for the Bahdanau GRU/LSTM models,
re-implements the model in plain torch.nn and translates with it.

    /usr/bin/python3 tools/check_translator_checkpoint.py CKPT_DIR [--translate "he is busy ."]
                     [--expect "il est occupe ."]

What it checks:
  * model.safetensors loads into torch tensors (tools/safetensors_min.py; Debian has no
    `safetensors` package), every tensor finite, the embedding / output sizes equal to the
    vocabularies in src_vocab.json / tgt_vocab.json and to config.json;
  * for attention "bahdanau" (GRU or LSTM, any depth, optionally bidirectional): a torch.nn
    model with the same parameter names accepts the state dict with load_state_dict(strict=True)
    -- the names are PyTorch's -- and greedy decoding of --translate (tokens separated by spaces,
    already normalised as in training) gives --expect when it is given.
Exit status 0 when everything holds, 1 otherwise.
"""
import argparse
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_min import load  # noqa: E402


class Encoder(nn.Module):
    def __init__(self, m):
        super().__init__()
        rnn = nn.GRU if m["cell"] == "gru" else nn.LSTM
        self.embedding = nn.Embedding(m["src_vocab"], m["embed_dim"], padding_idx=m["pad"])
        self.rnn = rnn(m["embed_dim"], m["hidden_size"], m["num_layers"], batch_first=True,
                       bidirectional=m["bidirectional"])
        self.lstm = m["cell"] == "lstm"
        self.layers = m["num_layers"]
        if m["bidirectional"]:
            self.bridge = nn.Linear(2 * m["hidden_size"], m["hidden_size"])
            if self.lstm:
                self.bridge_c = nn.Linear(2 * m["hidden_size"], m["hidden_size"])

    def bridge_states(self, s, lin):  # [2L, B, H] -> tanh(W [fwd; bwd] + b) per layer: [L, B, H]
        return torch.stack([torch.tanh(lin(torch.cat([s[2 * l], s[2 * l + 1]], -1)))
                            for l in range(self.layers)])

    def forward(self, src):  # src [1, S]
        out, state = self.rnn(self.embedding(src))
        h, c = (state if self.lstm else (state, None))
        if hasattr(self, "bridge"):
            h = self.bridge_states(h, self.bridge)
            if self.lstm:
                c = self.bridge_states(c, self.bridge_c)
        return out, h, c


class Bahdanau(nn.Module):
    def __init__(self, q, k, n):
        super().__init__()
        self.W_a = nn.Linear(q, n, bias=False)
        self.U_a = nn.Linear(k, n, bias=False)
        self.v_a = nn.Linear(n, 1, bias=False)

    def forward(self, s, mem):  # s [B, H], mem [B, S, Dk]
        e = self.v_a(torch.tanh(self.W_a(s).unsqueeze(1) + self.U_a(mem))).squeeze(-1)  # [B, S]
        a = torch.softmax(e, -1)
        return torch.bmm(a.unsqueeze(1), mem).squeeze(1), a


class Decoder(nn.Module):
    def __init__(self, m):
        super().__init__()
        H = m["hidden_size"]
        dk = 2 * H if m["bidirectional"] else H
        rnn = nn.GRU if m["cell"] == "gru" else nn.LSTM
        self.embedding = nn.Embedding(m["tgt_vocab"], m["embed_dim"], padding_idx=m["pad"])
        self.attention = Bahdanau(H, dk, H)
        self.rnn = rnn(m["embed_dim"] + dk, H, m["num_layers"], batch_first=True)
        self.out = nn.Linear(H, m["tgt_vocab"])
        self.lstm = m["cell"] == "lstm"

    def step(self, y, h, c, mem):
        ctx, a = self.attention(h[-1], mem)
        x = torch.cat([self.embedding(y), ctx], -1).unsqueeze(1)
        if self.lstm:
            o, (h, c) = self.rnn(x, (h, c))
        else:
            o, h = self.rnn(x, h)
        return self.out(o.squeeze(1)), h, c, a


class Seq2Seq(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.encoder = Encoder(m)
        self.decoder = Decoder(m)
        self.m = m

    @torch.no_grad()
    def greedy(self, src_ids, max_len=50):
        mem, h, c = self.encoder(torch.tensor([src_ids]))
        y, out = torch.tensor([self.m["bos"]]), []
        for _ in range(max_len):
            logits, h, c, _ = self.decoder.step(y, h, c, mem)
            y = logits.argmax(-1)
            out.append(int(y))
            if out[-1] == self.m["eos"]:
                break
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--translate", help="normalised source tokens, space-separated")
    ap.add_argument("--expect", help="the expected translation tokens, space-separated")
    args = ap.parse_args()

    d = args.checkpoint
    cfg = json.load(open(os.path.join(d, "config.json")))
    m = cfg["train"]["model"]
    src_vocab = json.load(open(os.path.join(d, "src_vocab.json")))["tokens"]
    tgt_vocab = json.load(open(os.path.join(d, "tgt_vocab.json")))["tokens"]
    tensors, meta = load(os.path.join(d, "model.safetensors"), torch=True)
    ok = True

    def check(cond, msg):
        nonlocal ok
        print(("ok    " if cond else "FAIL  ") + msg)
        ok = ok and cond

    print(f"{len(tensors)} tensors, format {cfg['format']} v{cfg['version']}, attn_format {meta.get('attn_format')}")
    check(all(torch.isfinite(t).all() for t in tensors.values()), "every tensor is finite")
    check(tuple(tensors["encoder.embedding.weight"].shape) == (len(src_vocab), m["embed_dim"]),
          f"encoder.embedding.weight {tuple(tensors['encoder.embedding.weight'].shape)} matches src_vocab.json")
    check(tuple(tensors["decoder.out.weight"].shape) == (len(tgt_vocab), m["hidden_size"]),
          f"decoder.out.weight {tuple(tensors['decoder.out.weight'].shape)} matches tgt_vocab.json")
    check(m["src_vocab"] == len(src_vocab) and m["tgt_vocab"] == len(tgt_vocab), "config.json vocabulary sizes")

    if m["attention"] != "bahdanau":
        print(f"(attention {m['attention']}: no torch re-implementation here; names and shapes only)")
        return 0 if ok else 1

    model = Seq2Seq(m)
    # Tied weights appear under both names in attn's state dict, as in torch's.
    model.load_state_dict({k: v for k, v in tensors.items()}, strict=True)
    model.eval()
    check(True, "torch.nn model accepts the state dict with load_state_dict(strict=True)")
    if args.translate:
        idx = {t: i for i, t in enumerate(src_vocab)}
        ids = [idx.get(t, 3) for t in args.translate.split()] + [m["eos"]]
        out = model.greedy(ids)
        words = [tgt_vocab[i] for i in out if i != m["eos"]]
        print("torch greedy:", " ".join(words))
        if args.expect is not None:
            check(" ".join(words) == args.expect, f"torch translation equals '{args.expect}'")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
