// attn's side of the translator benchmark against the PyTorch seq2seq tutorial
// (bench/seq2seq_compare.py runs it next to bench/seq2seq_tutorial.py; bench/README.md has the
// results). Three subcommands, each printing one JSON object on stdout:
//
//   split --corpus data/eng-fra.tutorial.tsv --seed 0 --out DIR
//       Reads the corpus French -> English with the tutorial's normalisation and filter (as
//       `attn demo` does), splits it 80/10/10 with data::split_corpus (the split train_translator
//       makes from corpus_path with the same seed) and writes DIR/{train,valid,test}.tsv with the
//       normalised text, source first. Both libraries train and score on these files.
//   bleu --hyp FILE --ref FILE
//       Corpus BLEU (data::corpus_bleu, sacreBLEU 13a) of whitespace-tokenised hypotheses, one per
//       line, detokenised exactly as attn's evaluation does, against references, one per line.
//   train --train FILE [--heldout FILE] --attention concat-linear|bahdanau|... --batch N
//         --optimizer sgd|adam --lr X --tf X --clip X --dropout X --max-length N --seconds S
//         --threads T --seed S
//       train_translator on FILE for S seconds. With --heldout, the model is scored (greedy,
//       BLEU on every pair) after every epoch, so the output has a BLEU-over-time curve; without
//       it nothing but training runs (a throughput measurement). With --score-every-steps N
//       --checkpoint-dir DIR, the held-out set is scored every N steps instead (see cmd_train).
//   micro [--vocab V] [--iters N] [--threads T]
//       Per-step costs of the big-matrix operations of batch-1 training, attn vs BLAS (cmd_micro).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <cblas.h>

#include "attn/core/error.h"
#include "attn/core/random.h"
#include "attn/kernels/config.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/index.h"
#include "attn/ops/linalg.h"
#include "attn/ops/reduce.h"
#include "attn/optim/sgd.h"
#include "attn/data/batching.h"
#include "attn/data/bleu.h"
#include "attn/data/tatoeba.h"
#include "attn/data/text.h"
#include "attn/train/translator.h"

namespace {

using Args = std::map<std::string, std::string>;

Args parse(int argc, char** argv, int first) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string k = argv[i];
    ATTN_CHECK(k.rfind("--", 0) == 0 && i + 1 < argc, "seq2seq bench: expected --option value, got '", k, "'");
    a[k.substr(2)] = argv[++i];
  }
  return a;
}

std::string get(const Args& a, const std::string& k, const std::string& def) {
  auto it = a.find(k);
  return it == a.end() ? def : it->second;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  ATTN_CHECK(in.good(), "seq2seq bench: cannot read ", path);
  std::vector<std::string> v;
  for (std::string line; std::getline(in, line);) v.push_back(line);
  return v;
}

int cmd_split(const Args& a) {
  attn::data::ReadOptions ro;
  ro.reverse = true;  // French -> English, as the tutorial
  ro.normalize = attn::data::Normalization::kTutorial;
  ro.tutorial_filter = true;
  ro.max_length = 10;
  const auto corpus = attn::data::read_tatoeba(get(a, "corpus", "data/eng-fra.tutorial.tsv"), ro);
  attn::data::SplitOptions so;
  so.valid_fraction = 0.1;
  so.test_fraction = 0.1;
  so.seed = std::stoull(get(a, "seed", "0"));
  const auto s = attn::data::split_corpus(corpus.pairs, so);
  const std::string out = get(a, "out", ".");
  attn::data::write_tatoeba(out + "/train.tsv", s.train);
  attn::data::write_tatoeba(out + "/valid.tsv", s.valid);
  attn::data::write_tatoeba(out + "/test.tsv", s.test);
  std::printf("{\"pairs\": %zu, \"train\": %zu, \"valid\": %zu, \"test\": %zu, \"seed\": %llu}\n", corpus.pairs.size(),
              s.train.size(), s.valid.size(), s.test.size(), (unsigned long long)so.seed);
  return 0;
}

int cmd_bleu(const Args& a) {
  auto hyps = read_lines(get(a, "hyp", ""));
  const auto refs = read_lines(get(a, "ref", ""));
  ATTN_CHECK(hyps.size() == refs.size(), "seq2seq bench: ", hyps.size(), " hypotheses but ", refs.size(), " references");
  for (auto& h : hyps) h = attn::data::detokenize(attn::data::tokenize(h, attn::data::Tokenization::kWord));
  const auto b = attn::data::corpus_bleu(hyps, refs);
  std::printf("{\"bleu\": %.4f, \"count\": %zu, \"line\": \"%s\"}\n", b.score, hyps.size(), b.format().c_str());
  return 0;
}

int cmd_train(const Args& a) {
  attn::train::TrainConfig c;
  c.train_path = get(a, "train", "");
  c.valid_path = get(a, "heldout", "");
  c.valid_fraction = 0.0;  // no split of the training file: it is train.tsv as exported
  c.test_fraction = 0.0;
  c.normalize = "none";    // the exported files are normalised already
  c.model.cell = get(a, "cell", "gru");
  c.model.attention = get(a, "attention", "bahdanau");
  c.model.embed_dim = c.model.hidden_size = std::stoll(get(a, "hidden", "256"));
  c.model.dropout = std::stod(get(a, "dropout", "0.1"));
  c.model.max_length = std::stoll(get(a, "max-length", "10"));
  c.optimizer = get(a, "optimizer", "adam");
  c.lr = std::stod(get(a, "lr", "2e-3"));
  c.clip_norm = std::stod(get(a, "clip", "1.0"));
  c.teacher_forcing_ratio = std::stod(get(a, "tf", "1.0"));
  c.batch_size = std::stoll(get(a, "batch", "32"));
  c.epochs = 1000;  // the time budget ends the run
  c.time_budget = std::stod(get(a, "seconds", "60"));
  c.max_steps = std::stoll(get(a, "max-steps", "0"));
  c.valid_bleu_size = 0;  // every held-out pair
  c.seed = std::stoull(get(a, "seed", "0"));
  c.threads = std::stoll(get(a, "threads", "0"));
  c.quiet = get(a, "quiet", "1") == "1";

  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpu_seconds();
  double train_seconds = 0, pairs = 0;
  std::ostringstream curve;
  auto on_epoch = [&](const attn::train::EpochStats& es) {
    train_seconds += es.seconds;
    pairs += es.pairs_per_second * es.seconds;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (curve.tellp() > 0) curve << ", ";
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "{\"epoch\": %lld, \"partial\": %s, \"train_seconds\": %.3f, \"wall_seconds\": %.3f, \"pairs\": %.0f, "
                  "\"train_loss\": %.4f, \"bleu\": %.4f}",
                  (long long)es.epoch, es.partial ? "true" : "false", train_seconds, wall, pairs, es.train_loss,
                  es.valid_bleu);
    curve << buf;
    if (!c.quiet) std::fprintf(stderr, "%s\n", buf);
  };
  // With --score-every-steps N (and --heldout), training runs in pieces of N steps, each resuming
  // the last one bit for bit from a checkpoint in --checkpoint-dir and scoring the held-out set
  // when it stops: a BLEU curve finer than one point per epoch. The budget (--seconds) then counts
  // training time only, as the PyTorch side's does.
  const int64_t every = std::stoll(get(a, "score-every-steps", "0"));
  attn::train::TrainResult r;
  if (every > 0) {
    c.checkpoint_dir = get(a, "checkpoint-dir", "");
    ATTN_CHECK(!c.checkpoint_dir.empty() && !c.valid_path.empty(),
               "seq2seq bench: --score-every-steps needs --checkpoint-dir and --heldout");
    std::filesystem::remove_all(c.checkpoint_dir);
    const double budget = c.time_budget;
    for (bool first = true; train_seconds < budget; first = false) {
      c.resume = !first;
      c.max_steps = every;
      c.time_budget = budget - train_seconds + 0.5;  // the call's clock also counts its data loading
      r = attn::train::train_translator(c, on_epoch);  // r.global_step counts the resumed steps too
      if (r.stop_reason == "epochs") break;
    }
  } else {
    r = attn::train::train_translator(c, on_epoch);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  std::printf(
      "{\"attention\": \"%s\", \"batch\": %lld, \"optimizer\": \"%s\", \"lr\": %g, \"tf\": %g, \"threads\": %lld, "
      "\"n_train\": %lld, \"parameters\": %lld, \"steps\": %lld, \"pairs\": %.0f, \"train_seconds\": %.3f, "
      "\"wall_seconds\": %.3f, \"cpu_seconds\": %.3f, \"pairs_per_s\": %.2f, \"stop\": \"%s\", \"curve\": [%s]}\n",
      c.model.attention.c_str(), (long long)c.batch_size, c.optimizer.c_str(), c.lr, c.teacher_forcing_ratio,
      (long long)c.threads, (long long)r.n_train, (long long)r.num_parameters, (long long)r.global_step, pairs,
      train_seconds, r.seconds, cpu, train_seconds > 0 ? pairs / train_seconds : 0.0, r.stop_reason.c_str(),
      curve.str().c_str());
  return 0;
}


// --- micro: the per-step costs behind batch-1 training ---------------------------------------------
// Times, per decoder step of the batch-1 concat-linear model (V = --vocab target words, H = 256,
// T = 7 steps per sentence, the tutorial set's mean), each big-matrix operation through attn's
// autograd as the model runs it, and the same arithmetic written directly on BLAS with the
// gradient accumulated in place: the gap is what the autograd / kernel changes listed in
// bench/README.md can recover.
template <class F>
double per_call_us(int64_t iters, F&& f) {
  f();  // warm-up: first allocations, page faults
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iters; ++i) f();
  return 1e6 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / double(iters);
}

int cmd_micro(const Args& a) {
  using namespace attn;
  const int64_t V = std::stoll(get(a, "vocab", "2796")), H = 256, T = 7;
  const int64_t iters = std::stoll(get(a, "iters", "30"));
  const int64_t n_params = std::stoll(get(a, "params", "3446774"));
  set_num_threads(int(std::stoll(get(a, "threads", "1"))));

  // 1. The output layer: T x (y_t = linear(x_t, W, b)), then one backward through all of them
  //    (each step's dW reaches W.grad separately, as in the decoder loop).
  Tensor W = randn({V, H}).requires_grad_(), b = zeros({V}).requires_grad_();
  std::vector<Tensor> xs, gs;
  for (int64_t t = 0; t < T; ++t) {
    xs.push_back(randn({1, H}).requires_grad_());
    gs.push_back(randn({1, V}));
  }
  const double attn_linear = per_call_us(iters, [&] {
    W.impl().grad.reset();
    b.impl().grad.reset();
    Tensor total;
    for (int64_t t = 0; t < T; ++t) {
      Tensor y = sum(mul(linear(xs[size_t(t)], W, b), gs[size_t(t)]));
      total = t == 0 ? y : add(total, y);
    }
    total.backward();
  }) / double(T);
  // The same on BLAS: y = W x + b (sgemv), dx = W^T g (sgemv), dW += g x^T (sger, in place).
  const size_t nv = size_t(V), nh = size_t(H);
  std::vector<float> w(nv * nh), dw(nv * nh), bb(nv), db(nv), y(nv), dx(nh);
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(i % 7) * 0.01f;
  const double raw_linear = per_call_us(iters, [&] {
    std::fill(dw.begin(), dw.end(), 0.0f);  // zero_grad
    std::fill(db.begin(), db.end(), 0.0f);
    for (int64_t t = 0; t < T; ++t) {
      const float* x = xs[size_t(t)].data_ptr<float>();
      const float* g = gs[size_t(t)].data_ptr<float>();
      std::copy(bb.begin(), bb.end(), y.begin());
      cblas_sgemv(CblasRowMajor, CblasNoTrans, int(V), int(H), 1.0f, w.data(), int(H), x, 1, 1.0f, y.data(), 1);
      cblas_sgemv(CblasRowMajor, CblasTrans, int(V), int(H), 1.0f, w.data(), int(H), g, 1, 0.0f, dx.data(), 1);
      cblas_sger(CblasRowMajor, int(V), int(H), 1.0f, g, 1, x, 1, dw.data(), int(H));
      cblas_saxpy(int(V), 1.0f, g, 1, db.data(), 1);
    }
  }) / double(T);

  // 2. The decoder embedding: T lookups of one token each, one backward.
  Tensor E = randn({V, H}).requires_grad_();
  std::vector<Tensor> ids, eg;
  for (int64_t t = 0; t < T; ++t) {
    ids.push_back(tensor(std::vector<int64_t>{(t * 97) % V}).reshape({1}));
    eg.push_back(randn({1, H}));
  }
  const double attn_embedding = per_call_us(iters, [&] {
    E.impl().grad.reset();
    Tensor total;
    for (int64_t t = 0; t < T; ++t) {
      Tensor y = sum(mul(embedding(E, ids[size_t(t)]), eg[size_t(t)]));
      total = t == 0 ? y : add(total, y);
    }
    total.backward();
  }) / double(T);
  // Dense-gradient semantics kept (the tutorial's nn.Embedding): zero the [V, H] gradient once per
  // sentence, add one row per step.
  std::vector<float> de(size_t(V * H));
  const double raw_embedding = per_call_us(iters, [&] {
    std::fill(de.begin(), de.end(), 0.0f);
    for (int64_t t = 0; t < T; ++t) {
      const float* g = eg[size_t(t)].data_ptr<float>();
      float* row = de.data() + ((t * 97) % V) * H;
      for (int64_t j = 0; j < H; ++j) row[j] += g[j];
    }
  }) / double(T);

  // 3. One SGD step over a model's worth of parameters (dense gradients).
  Tensor P = randn({n_params}).requires_grad_();
  P.impl().grad = randn({n_params}).impl_ptr();
  optim::SGD sgd({P}, 0.01);
  const double attn_sgd = per_call_us(iters, [&] { sgd.step(); });
  std::vector<float> pp(size_t(n_params), 1.0f), pg(size_t(n_params), 0.5f);
  const double raw_sgd = per_call_us(iters, [&] { cblas_saxpy(int(n_params), -0.01f, pg.data(), 1, pp.data(), 1); });

  std::printf("{\"vocab\": %lld, \"hidden\": %lld, \"steps\": %lld, \"params\": %lld, "
              "\"linear_step_us\": {\"attn\": %.1f, \"blas_in_place\": %.1f}, "
              "\"embedding_step_us\": {\"attn\": %.1f, \"dense_row_add\": %.1f}, "
              "\"sgd_step_us\": {\"attn\": %.1f, \"saxpy\": %.1f}}\n",
              (long long)V, (long long)H, (long long)T, (long long)n_params, attn_linear, raw_linear, attn_embedding,
              raw_embedding, attn_sgd, raw_sgd);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    const Args a = parse(argc, argv, 2);
    if (cmd == "split") return cmd_split(a);
    if (cmd == "bleu") return cmd_bleu(a);
    if (cmd == "train") return cmd_train(a);
    if (cmd == "micro") return cmd_micro(a);
    std::fprintf(stderr, "usage: bench_seq2seq split|bleu|train|micro --option value ... (see bench/seq2seq.cc)\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_seq2seq: %s\n", e.what());
    return 1;
  }
}
