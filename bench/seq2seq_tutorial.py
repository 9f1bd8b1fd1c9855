#!/usr/bin/env python3
"""The PyTorch seq2seq tutorial's translator, as a baseline for attn's (bench/seq2seq_compare.py).

The model and training loop follow the description in "NLP From Scratch: Translation with a
Sequence to Sequence Network and Attention" (PyTorch tutorials): EncoderRNN (Embedding + GRU,
hidden 256) and AttnDecoderRNN (dropout 0.1 on the embedding; attention weights =
softmax(attn([embedded ; hidden])) over MAX_LENGTH = 10 encoder positions; attn_combine + ReLU;
GRU; log_softmax(out)), one sentence per step (batch 1), SGD lr 0.01 on encoder and decoder,
NLLLoss summed over the target steps, teacher forcing with probability 0.5 per sentence (without
it the decoder feeds its own argmax and stops at EOS), training pairs drawn with random.choice,
greedy evaluation of at most MAX_LENGTH steps.

Differences from the tutorial, so that both libraries see the same data: the pairs come from the
train / test files written by `bench_seq2seq split` (already normalised as the tutorial does;
source = French, first column), the vocabularies are built from the training file only, and a
test word never seen in training maps to an UNK index (the tutorial builds its vocabularies from
all pairs). The code is written from the tutorial's description.

Output: one JSON object on stdout (pairs trained, training seconds, CPU seconds, pairs/s) and, at
every --eval-at point, the greedy hypotheses of the test sources, one per line, whitespace-separated
tokens without EOS, in <out>/hyp_<k>.txt (evaluation time is not counted as training time).
BLEU is computed by `bench_seq2seq bleu`, the scorer attn's own evaluation uses.
"""
import argparse
import json
import os
import random
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SOS, EOS, UNK = 0, 1, 2
MAX_LENGTH = 10


class Lang:
    def __init__(self):
        self.word2index = {}
        self.index2word = ["SOS", "EOS", "UNK"]

    def add_sentence(self, s):
        for w in s.split(" "):
            if w not in self.word2index:
                self.word2index[w] = len(self.index2word)
                self.index2word.append(w)

    def tensor(self, s):
        ids = [self.word2index.get(w, UNK) for w in s.split(" ")] + [EOS]
        return torch.tensor(ids, dtype=torch.long).view(-1, 1)


class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size)

    def forward(self, token, hidden):
        embedded = self.embedding(token).view(1, 1, -1)
        output, hidden = self.gru(embedded, hidden)
        return output, hidden

    def init_hidden(self):
        return torch.zeros(1, 1, self.hidden_size)


class AttnDecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size, dropout_p=0.1, max_length=MAX_LENGTH):
        super().__init__()
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.attn = nn.Linear(hidden_size * 2, max_length)
        self.attn_combine = nn.Linear(hidden_size * 2, hidden_size)
        self.dropout = nn.Dropout(dropout_p)
        self.gru = nn.GRU(hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, output_size)

    def forward(self, token, hidden, encoder_outputs):
        embedded = self.dropout(self.embedding(token).view(1, 1, -1))
        attn_weights = F.softmax(self.attn(torch.cat((embedded[0], hidden[0]), 1)), dim=1)
        attn_applied = torch.bmm(attn_weights.unsqueeze(0), encoder_outputs.unsqueeze(0))
        output = torch.cat((embedded[0], attn_applied[0]), 1)
        output = F.relu(self.attn_combine(output).unsqueeze(0))
        output, hidden = self.gru(output, hidden)
        return F.log_softmax(self.out(output[0]), dim=1), hidden, attn_weights


def train_pair(src, tgt, encoder, decoder, enc_opt, dec_opt, criterion, teacher_forcing_ratio):
    hidden = encoder.init_hidden()
    enc_opt.zero_grad()
    dec_opt.zero_grad()
    encoder_outputs = torch.zeros(MAX_LENGTH, encoder.hidden_size)
    for i in range(src.size(0)):
        out, hidden = encoder(src[i], hidden)
        encoder_outputs[i] = out[0, 0]
    token = torch.tensor([[SOS]])
    loss = 0
    if random.random() < teacher_forcing_ratio:
        for i in range(tgt.size(0)):
            out, hidden, _ = decoder(token, hidden, encoder_outputs)
            loss += criterion(out, tgt[i])
            token = tgt[i]
    else:
        for i in range(tgt.size(0)):
            out, hidden, _ = decoder(token, hidden, encoder_outputs)
            _, top = out.topk(1)
            token = top.squeeze().detach()
            loss += criterion(out, tgt[i])
            if token.item() == EOS:
                break
    loss.backward()
    enc_opt.step()
    dec_opt.step()
    return loss.item() / tgt.size(0)


def translate(src, encoder, decoder, out_lang):
    with torch.no_grad():
        hidden = encoder.init_hidden()
        encoder_outputs = torch.zeros(MAX_LENGTH, encoder.hidden_size)
        for i in range(min(src.size(0), MAX_LENGTH)):
            out, hidden = encoder(src[i], hidden)
            encoder_outputs[i] = out[0, 0]
        token = torch.tensor([[SOS]])
        words = []
        for _ in range(MAX_LENGTH):
            out, hidden, _ = decoder(token, hidden, encoder_outputs)
            _, top = out.data.topk(1)
            if top.item() == EOS:
                break
            words.append(out_lang.index2word[top.item()])
            token = top.squeeze().detach()
        return words


def read_pairs(path):
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            pairs.append((cols[0], cols[1]))
    return pairs


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", help="held-out pairs to translate at every --eval-at point")
    ap.add_argument("--seconds", type=float, default=60.0, help="training wall-clock budget")
    ap.add_argument("--max-pairs", type=int, default=0, help="stop after this many training pairs (0: budget only)")
    ap.add_argument("--eval-at", default="", help="comma-separated training seconds at which to translate --test "
                    "(the end of the budget is always one)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--teacher-forcing", type=float, default=0.5)
    ap.add_argument("--out", default=".", help="directory for hyp_<k>.txt")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    torch.manual_seed(args.seed)

    train = read_pairs(args.train)
    test = read_pairs(args.test) if args.test else []
    in_lang, out_lang = Lang(), Lang()
    for s, t in train:
        in_lang.add_sentence(s)
        out_lang.add_sentence(t)
    train_t = [(in_lang.tensor(s), out_lang.tensor(t)) for s, t in train]
    train_t = [p for p in train_t if p[0].size(0) <= MAX_LENGTH]
    test_t = [in_lang.tensor(s) for s, _ in test]

    encoder = EncoderRNN(len(in_lang.index2word), args.hidden)
    decoder = AttnDecoderRNN(args.hidden, len(out_lang.index2word))
    enc_opt = torch.optim.SGD(encoder.parameters(), lr=args.lr)
    dec_opt = torch.optim.SGD(decoder.parameters(), lr=args.lr)
    criterion = nn.NLLLoss()

    eval_at = sorted(float(x) for x in args.eval_at.split(",") if x.strip() and float(x) < args.seconds)
    eval_at.append(args.seconds)
    curve = []
    pairs = 0
    loss_sum = 0.0
    train_seconds = 0.0
    cpu_train = 0.0
    while True:
        if args.max_pairs and pairs >= args.max_pairs:
            break
        t0, c0 = time.perf_counter(), cpu_seconds()
        src, tgt = random.choice(train_t)
        loss_sum += train_pair(src, tgt, encoder, decoder, enc_opt, dec_opt, criterion, args.teacher_forcing)
        pairs += 1
        train_seconds += time.perf_counter() - t0
        cpu_train += cpu_seconds() - c0
        done = train_seconds >= args.seconds or (args.max_pairs and pairs >= args.max_pairs)
        if test_t and (done or (eval_at and train_seconds >= eval_at[0])):
            while eval_at and train_seconds >= eval_at[0]:
                eval_at.pop(0)
            encoder.eval()
            decoder.eval()
            t1 = time.perf_counter()
            path = os.path.join(args.out, "hyp_%d.txt" % len(curve))
            with open(path, "w", encoding="utf-8") as f:
                for src_t in test_t:
                    f.write(" ".join(translate(src_t, encoder, decoder, out_lang)) + "\n")
            curve.append({"train_seconds": round(train_seconds, 3), "pairs": pairs, "hyp": path,
                          "eval_seconds": round(time.perf_counter() - t1, 3)})
            encoder.train()
            decoder.train()
        if done:
            break

    n_params = sum(p.numel() for p in list(encoder.parameters()) + list(decoder.parameters()))
    print(json.dumps({"library": "pytorch " + torch.__version__, "threads": torch.get_num_threads(),
                      "n_train": len(train_t), "parameters": n_params, "pairs": pairs,
                      "train_seconds": round(train_seconds, 3), "cpu_seconds": round(cpu_train, 3),
                      "pairs_per_s": round(pairs / train_seconds, 2) if train_seconds else 0.0,
                      "train_loss": round(loss_sum / max(pairs, 1), 4), "curve": curve}))


if __name__ == "__main__":
    sys.exit(main())
