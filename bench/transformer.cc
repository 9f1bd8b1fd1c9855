// attn's side of the Transformer benchmark (bench/transformer_compare.py runs it next to
// bench/transformer.py, the same model on torch.nn.Transformer; bench/README.md has the results).
// Two subcommands, each printing one JSON object on stdout:
//
//   train [--d-model 256 --nhead 4 --layers 3 --ff 1024 --vocab 8000 --batch 32 --len 20
//          --dropout 0.1 --smoothing 0.1 --lr 5e-4] --seconds S [--warmup 2] --threads T --seed S
//       models::TransformerModel (post-LN, sinusoidal positions, output tied to the target
//       embedding) trained with Adam on label-smoothed cross-entropy over random token batches
//       (source and target `len` tokens, no padding; target input = bos + the first len - 1 target
//       tokens). After `warmup` steps it trains for S seconds and reports target tokens per second
//       and the median milliseconds of each phase of a step (forward + loss, backward, Adam).
//   decode [same model options] --sentences N --steps K --seconds S --threads T --seed S
//       Greedy decoding at batch 1 through start_decoding + models::greedy_search (KV cache):
//       K tokens per sentence (min_length = max_length = K, so every sentence has the same cost
//       whatever the untrained model predicts). Reports generated tokens per second.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "attn/core/autograd.h"
#include "attn/core/error.h"
#include "attn/core/random.h"
#include "attn/kernels/config.h"
#include "attn/models/decoding.h"
#include "attn/models/transformer.h"
#include "attn/ops/loss.h"
#include "attn/ops/shape.h"
#include "attn/optim/adam.h"

namespace {

using namespace attn;
using Args = std::map<std::string, std::string>;
using Clock = std::chrono::steady_clock;

Args parse(int argc, char** argv, int first) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string k = argv[i];
    ATTN_CHECK(k.rfind("--", 0) == 0 && i + 1 < argc, "transformer bench: expected --option value, got '", k, "'");
    a[k.substr(2)] = argv[++i];
  }
  return a;
}

std::string get(const Args& a, const std::string& k, const std::string& def) {
  auto it = a.find(k);
  return it == a.end() ? def : it->second;
}
int64_t geti(const Args& a, const std::string& k, int64_t def) { return std::stoll(get(a, k, std::to_string(def))); }
double getd(const Args& a, const std::string& k, double def) { return std::stod(get(a, k, std::to_string(def))); }

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

models::TransformerConfig config_of(const Args& a) {
  models::TransformerConfig c;
  c.src_vocab = c.tgt_vocab = geti(a, "vocab", 8000);
  c.d_model = geti(a, "d-model", 256);
  c.nhead = geti(a, "nhead", 4);
  c.num_encoder_layers = c.num_decoder_layers = geti(a, "layers", 3);
  c.dim_feedforward = geti(a, "ff", 1024);
  c.dropout = getd(a, "dropout", 0.1);
  return c;
}

// Random tokens in [3, vocab): 0, 1, 2 are pad, bos, eos.
Tensor random_tokens(int64_t B, int64_t T, int64_t vocab, Generator& gen) { return randint(3, vocab, {B, T}, kInt64, &gen); }

int cmd_train(const Args& a) {
  const int threads = int(geti(a, "threads", 1));
  set_num_threads(threads);
  const uint64_t seed = uint64_t(geti(a, "seed", 0));
  manual_seed(seed);
  const models::TransformerConfig c = config_of(a);
  const int64_t B = geti(a, "batch", 32), T = geti(a, "len", 20), warmup = geti(a, "warmup", 2);
  const double seconds = getd(a, "seconds", 20), smoothing = getd(a, "smoothing", 0.1);
  auto model = std::make_shared<models::TransformerModel>(c);
  model->train();
  optim::Adam opt(model->parameters(), getd(a, "lr", 5e-4), {0.9, 0.98}, 1e-9);

  // A fixed pool of batches, cycled (data loading is not what is measured).
  Generator gen(seed + 1);
  const int64_t pool = 8;
  std::vector<Tensor> srcs, tgt_ins, tgt_outs;
  const Tensor src_lens = full({B}, double(T), kInt64);
  for (int64_t i = 0; i < pool; ++i) {
    srcs.push_back(random_tokens(B, T, c.src_vocab, gen));
    Tensor tgt = random_tokens(B, T, c.tgt_vocab, gen);
    tgt_outs.push_back(tgt);
    tgt_ins.push_back(cat({full({B, 1}, double(c.bos), kInt64), tgt.narrow(1, 0, T - 1)}, 1).contiguous());
  }

  std::vector<double> t_fwd, t_bwd, t_opt, t_step;
  double last_loss = 0.0;
  auto step = [&](int64_t i, bool record) {
    const size_t k = size_t(i % pool);
    auto t0 = Clock::now();
    opt.zero_grad();
    Tensor logits = model->forward(srcs[k], src_lens, tgt_ins[k]);  // [B, T, V]
    Tensor loss = cross_entropy(logits.reshape({B * T, c.tgt_vocab}), tgt_outs[k].reshape({B * T}), Tensor(), c.pad,
                                Reduction::Mean, smoothing);
    last_loss = loss.item();
    auto t1 = Clock::now();
    loss.backward();
    auto t2 = Clock::now();
    opt.step();
    auto t3 = Clock::now();
    if (record) {
      auto ms = [](Clock::time_point x, Clock::time_point y) { return 1e3 * std::chrono::duration<double>(y - x).count(); };
      t_fwd.push_back(ms(t0, t1));
      t_bwd.push_back(ms(t1, t2));
      t_opt.push_back(ms(t2, t3));
      t_step.push_back(ms(t0, t3));
    }
  };
  int64_t i = 0;
  for (; i < warmup; ++i) step(i, false);
  const double c0 = cpu_seconds();
  const auto w0 = Clock::now();
  int64_t steps = 0;
  while (since(w0) < seconds || steps < 3) {
    step(i++, true);
    ++steps;
  }
  const double wall = since(w0), cpu = cpu_seconds() - c0;
  const double tokens = double(steps * B * T);
  std::printf(
      "{\"library\": \"attn\", \"mode\": \"train\", \"threads\": %d, \"batch\": %lld, \"len\": %lld, \"vocab\": %lld, "
      "\"parameters\": %lld, \"steps\": %lld, \"seconds\": %.3f, \"cpu_seconds\": %.3f, \"tokens_per_s\": %.2f, "
      "\"step_ms_median\": %.2f, \"forward_ms_median\": %.2f, \"backward_ms_median\": %.2f, "
      "\"optimizer_ms_median\": %.2f, \"loss\": %.4f}\n",
      threads, (long long)B, (long long)T, (long long)c.tgt_vocab, (long long)model->num_parameters(),
      (long long)steps, wall, cpu, tokens / wall, median(t_step), median(t_fwd), median(t_bwd), median(t_opt),
      last_loss);
  return 0;
}

int cmd_decode(const Args& a) {
  const int threads = int(geti(a, "threads", 1));
  set_num_threads(threads);
  const uint64_t seed = uint64_t(geti(a, "seed", 0));
  manual_seed(seed);
  const models::TransformerConfig c = config_of(a);
  const int64_t T = geti(a, "len", 20), K = geti(a, "steps", 25), warmup = geti(a, "warmup", 2);
  const double seconds = getd(a, "seconds", 20);
  auto model = std::make_shared<models::TransformerModel>(c);
  model->eval();
  NoGradGuard no_grad;
  Generator gen(seed + 1);
  const int64_t pool = 16;
  std::vector<Tensor> srcs;
  for (int64_t i = 0; i < pool; ++i) srcs.push_back(random_tokens(1, T, c.src_vocab, gen));
  const Tensor src_lens = full({1}, double(T), kInt64);
  models::SearchOptions so;
  so.beam_size = 1;
  so.max_length = so.min_length = K;
  so.bos = c.bos;
  so.eos = c.eos;

  std::vector<double> per_sentence;
  int64_t generated = 0;
  auto one = [&](int64_t i, bool record) {
    auto t0 = Clock::now();
    auto dec = model->start_decoding(srcs[size_t(i % pool)], src_lens);
    auto hyps = models::greedy_search(*dec, 1, so);
    if (record) {
      per_sentence.push_back(1e3 * since(t0));
      generated += int64_t(hyps[0][0].tokens.size());
    }
  };
  int64_t i = 0;
  for (; i < warmup; ++i) one(i, false);
  const double c0 = cpu_seconds();
  const auto w0 = Clock::now();
  int64_t sentences = 0;
  while (since(w0) < seconds || sentences < 3) {
    one(i++, true);
    ++sentences;
  }
  const double wall = since(w0), cpu = cpu_seconds() - c0;
  std::printf(
      "{\"library\": \"attn\", \"mode\": \"decode\", \"threads\": %d, \"len\": %lld, \"steps\": %lld, "
      "\"sentences\": %lld, \"tokens\": %lld, \"seconds\": %.3f, \"cpu_seconds\": %.3f, \"tokens_per_s\": %.2f, "
      "\"sentence_ms_median\": %.3f}\n",
      threads, (long long)T, (long long)K, (long long)sentences, (long long)generated, wall, cpu,
      double(generated) / wall, median(per_sentence));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    const Args a = parse(argc, argv, 2);
    if (cmd == "train") return cmd_train(a);
    if (cmd == "decode") return cmd_decode(a);
    std::fprintf(stderr, "usage: bench_transformer train|decode [--option value ...] (see bench/transformer.cc)\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_transformer: %s\n", e.what());
    return 1;
  }
}
