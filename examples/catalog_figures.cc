// Draws the example heatmaps of the attention catalog's pages (docs/attention/img/*.svg): every
// picture is the output of the mechanism it illustrates, run on small structured inputs.
// Usage: catalog_figures <output dir>   (tools/make_catalog_figures.sh runs it for docs/)
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "attn/attn.h"

namespace fs = std::filesystem;
using namespace attn;

namespace {

std::vector<std::string> words(std::initializer_list<const char*> w) { return {w.begin(), w.end()}; }

std::vector<std::string> numbered(int64_t n, const char* prefix = "") {
  std::vector<std::string> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

viz::HeatmapOptions panel_options(const std::string& title, std::vector<std::string> rows,
                                  std::vector<std::string> cols, int cell = 18) {
  viz::HeatmapOptions o;
  o.title = title;
  o.row_labels = std::move(rows);
  o.col_labels = std::move(cols);
  o.cell_size = cell;
  o.colormap = viz::Colormap::Reds;
  return o;
}

// Scores between the sinusoidal encodings of 10 positions: each score sees position similarity.
void scores(const fs::path& out) {
  const int64_t T = 10, d = 16;
  const Tensor pe = nn::sinusoidal_table(T, d);  // [T, d]
  Generator gen(7);
  const int64_t h = 8;
  const Tensor Wq = randn({h, d}, kFloat32, &gen) * 0.5, Wk = randn({h, d}, kFloat32, &gen) * 0.5;
  const Tensor v = randn({h}, kFloat32, &gen);
  const Tensor W = eye(d) + randn({d, d}, kFloat32, &gen) * 0.1;
  const Tensor panels = stack({softmax(dot_score(pe, pe), -1), softmax(scaled_dot_score(pe, pe), -1),
                               softmax(general_score(pe, W, pe), -1),
                               softmax(additive_score(pe, pe, Wq, Wk, v), -1),
                               softmax(cosine_score(pe, pe) * 4.0, -1)})
                           .reshape({1, 5, T, T});
  viz::HeatmapGridTitles titles;
  titles.col_titles = words({"dot", "scaled dot", "general", "additive", "cosine (x4)"});
  auto o = panel_options("softmax(score(PE_i, PE_j)), 10 positions", numbered(T), numbered(T), 12);
  viz::write_heatmap_grid_svg((out / "scores.svg").string(), panels, titles, o);
}

// Masks on all-equal scores: the weights show exactly which keys each query may see.
void masking(const fs::path& out) {
  const int64_t T = 6, S = 9;
  const Tensor zeros_ts = zeros({T, S});
  MaskedSoftmaxOptions lens;
  lens.valid_lens = tensor(std::vector<int64_t>{2, 3, 4, 5, 6, 7}, Shape{1, T});  // per query
  const Tensor panels = stack({masked_softmax(zeros_ts.unsqueeze(0), lens).squeeze(0),
                               masked_softmax(zeros_ts, causal_mask(T, S), MaskPolarity::TrueKeeps),
                               masked_softmax(zeros_ts, causal_mask(T, S, CausalAlign::BottomRight),
                                              MaskPolarity::TrueKeeps)})
                           .reshape({1, 3, T, S});
  viz::HeatmapGridTitles titles;
  titles.col_titles = words({"valid lengths 2..7", "causal, top-left", "causal, bottom-right"});
  viz::write_heatmap_grid_svg((out / "masking.svg").string(), panels, titles,
                              panel_options("masked_softmax of equal scores, T=6, S=9", numbered(T), numbered(S)));
}

// Causal scaled-dot attention of 8 heads with ALiBi biases: steeper slopes look more locally.
void sdpa(const fs::path& out) {
  const int64_t H = 8, T = 10, d = 8;
  Generator gen(11);
  const Tensor q = randn({1, H, T, d}, kFloat32, &gen) * 0.3, k = randn({1, H, T, d}, kFloat32, &gen) * 0.3;
  const Tensor v = randn({1, H, T, d}, kFloat32, &gen);
  const Tensor bias = nn::alibi_bias(H, T, T) + where(causal_mask(T, T), zeros({T, T}), full({T, T}, -INFINITY));
  const AttentionResult r = scaled_dot_product_attention(q, k, v, bias, 0.0, false, std::nullopt, false, true);
  viz::HeatmapGridTitles titles;
  for (int64_t h = 0; h < H; ++h)
    titles.panel_titles.push_back("head " + std::to_string(h) + ", slope " +
                                  std::to_string(nn::alibi_slopes(H)[h].item()).substr(0, 6));
  viz::write_heatmap_grid_svg((out / "sdpa.svg").string(), r.weights.reshape({2, H / 2, T, T}), titles,
                              panel_options("scaled_dot_product_attention, causal + ALiBi", numbered(T), numbered(T), 14));
}

// Self-attention of a MultiheadAttention over a short sentence (embeddings + sinusoidal positions).
void multihead(const fs::path& out) {
  const auto toks = words({"<bos>", "the", "cat", "sat", "on", "the", "mat", "."});
  const int64_t T = int64_t(toks.size()), E = 32, H = 4;
  manual_seed(3);
  nn::Embedding emb(16, E);
  nn::MultiheadAttention mha(E, H, 0.0, true, false, false, -1, -1, /*batch_first=*/true);
  const Tensor ids = tensor(std::vector<int64_t>{1, 2, 3, 4, 5, 2, 6, 7}, Shape{1, T});
  const Tensor x = emb(ids) + nn::sinusoidal_table(T, E).unsqueeze(0) * 2.0;
  NoGradGuard ng;
  const AttentionResult r = mha(x, x, x, Tensor(), true, Tensor(), /*average_attn_weights=*/false, /*is_causal=*/false);
  viz::HeatmapGridTitles titles;
  titles.col_titles = words({"head 1", "head 2", "head 3", "head 4"});
  viz::write_heatmap_grid_svg((out / "multihead.svg").string(), r.weights, titles,
                              panel_options("MultiheadAttention(32, 4), untrained, need_weights per head", toks, toks, 16));
}

// Hard attention from the same scores: soft, argmax, top-3 and one categorical sample per row.
void hard(const fs::path& out) {
  const int64_t T = 6, S = 8;
  Generator gen(5);
  const Tensor s = randn({T, S}, kFloat32, &gen) * 1.5;
  const Tensor p = softmax(s, -1);
  const Tensor panels = stack({p, hard_argmax(p), topk_attention(s, 3), sample_attention(p, &gen).one_hot,
                               gumbel_softmax(s, 0.5, false, &gen)})
                           .reshape({1, 5, T, S});
  viz::HeatmapGridTitles titles;
  titles.col_titles = words({"softmax", "hard_argmax", "topk k=3", "sample", "gumbel tau=0.5"});
  viz::write_heatmap_grid_svg((out / "hard.svg").string(), panels, titles,
                              panel_options("hard attention from one score matrix", numbered(T), numbered(S), 16));
}

// Positions: the sinusoidal table, and the RoPE score of a fixed query/key pair by relative offset.
void positional(const fs::path& out) {
  const int64_t P = 24, d = 32;
  viz::HeatmapOptions o = panel_options("sinusoidal_table(24, 32): PE[pos, i]", numbered(P), numbered(d), 10);
  o.colormap = viz::Colormap::Viridis;
  o.xlabel = "dimension";
  o.ylabel = "position";
  viz::write_heatmap_svg((out / "sinusoidal.svg").string(), nn::sinusoidal_table(P, d), o);

  const int64_t T = 12, Dh = 16;
  const Tensor base = ones({1, 1, T, Dh});  // the same vector at every position
  const Tensor q = nn::apply_rotary(base), k = nn::apply_rotary(base);
  viz::HeatmapOptions r = panel_options("RoPE: q_i . k_j for identical q, k (depends on i - j only)", numbered(T),
                                        numbered(T), 14);
  r.colormap = viz::Colormap::Viridis;
  viz::write_heatmap_svg((out / "rope.svg").string(), matmul(q, k.transpose(-2, -1)).reshape({T, T}), r);
}

// Mixture of experts: the router's probabilities for 12 tokens over 6 experts, and the top-2 picks.
void moe(const fs::path& out) {
  manual_seed(9);
  const int64_t T = 12, E = 6;
  nn::MixtureOfExperts m(16, E, 2, 32);
  const Tensor x = randn({T, 16});
  NoGradGuard ng;
  m(x);
  const Tensor chosen = scatter_add(zeros({T, E}), 1, m.last_expert_indices(), m.last_weights());
  const Tensor panels = stack({m.last_router_probs(), chosen}).reshape({1, 2, T, E});
  viz::HeatmapGridTitles titles;
  titles.col_titles = words({"router softmax", "top-2 weights used"});
  auto o = panel_options("MixtureOfExperts(16, 6 experts, top_k=2), untrained", numbered(T, "t"), numbered(E, "e"), 16);
  o.xlabel = "expert";
  o.ylabel = "token";
  viz::write_heatmap_grid_svg((out / "moe.svg").string(), panels, titles, o);
}


// Sliding-window attention: the band of a symmetric and of a causal (left-only) window.
void local(const fs::path& out) {
  const int64_t T = 12, d = 8;
  Generator gen(13);
  const Tensor q = randn({1, 1, T, d}, kFloat32, &gen) * 0.5, k = randn({1, 1, T, d}, kFloat32, &gen) * 0.5;
  const Tensor v = randn({1, 1, T, d}, kFloat32, &gen);
  SlidingWindowOptions o;
  o.need_weights = true;
  const Tensor sym = sliding_window_attention(q, k, v, 2, 2, o).weights.reshape({T, T});
  const Tensor causal = sliding_window_attention(q, k, v, 3, 0, o).weights.reshape({T, T});
  viz::HeatmapGridTitles titles;
  titles.col_titles = words({"window (2, 2)", "window (3, 0): causal, 4 keys"});
  viz::write_heatmap_grid_svg((out / "local.svg").string(), stack({sym, causal}).reshape({1, 2, T, T}), titles,
                              panel_options("sliding_window_attention", numbered(T), numbered(T), 14));
}

// Luong attention on the same decoder states: global, local-m (window around t) and local-p
// (window around a predicted position, weights damped by a Gaussian).
void luong(const fs::path& out) {
  const int64_t S = 14, T = 6, H = 16;
  manual_seed(21);
  const Tensor keys = randn({1, S, H}) * 0.5, queries = randn({T, H}) * 0.5;
  std::vector<Tensor> panels;
  for (nn::LuongMode mode : {nn::LuongMode::Global, nn::LuongMode::LocalM, nn::LuongMode::LocalP}) {
    nn::LuongAttentionOptions lo;
    lo.mode = mode;
    lo.window = 2;
    nn::LuongAttention att(H, H, lo);
    NoGradGuard ng;
    std::vector<Tensor> rows;
    for (int64_t t = 0; t < T; ++t)
      rows.push_back(att(queries[t].unsqueeze(0), keys, keys, {}, 2 * t + 1).weights.squeeze(0));
    panels.push_back(stack(rows));
  }
  viz::HeatmapGridTitles titles;
  titles.col_titles = words({"global", "local-m (p_t = 2t+1, D = 2)", "local-p (D = 2)"});
  viz::write_heatmap_grid_svg((out / "luong.svg").string(), stack(panels).reshape({1, 3, T, S}), titles,
                              panel_options("LuongAttention, general score, untrained", numbered(T, "t"), numbered(S), 14));
}

// The tutorial's concat-linear attention spreads weight over all max_length positions, including
// those past the source's end (which hold zero vectors).
void concat_linear(const fs::path& out) {
  const int64_t L = 10, S = 6, T = 5;
  manual_seed(4);
  nn::ConcatLinearAttention att(16, 16, 16, L, 16);
  const Tensor values = randn({1, S, 16});
  std::vector<Tensor> rows;
  NoGradGuard ng;
  for (int64_t t = 0; t < T; ++t) rows.push_back(att(randn({1, 16}), randn({1, 16}), values).weights.squeeze(0));
  auto o = panel_options("ConcatLinearAttention(max_length=10), source of 6: weight also lands on 6..9",
                         numbered(T, "t"), numbered(L), 22);
  viz::write_heatmap_svg((out / "concat_linear.svg").string(), stack(rows), o);
}

// d2l's AdditiveAttention with valid lengths: keys past each sequence's length get no weight.
void d2l(const fs::path& out) {
  manual_seed(1);
  nn::AdditiveAttention att(8, 8, 16);
  const Tensor q = randn({2, 4, 8}), k = randn({2, 10, 8});
  NoGradGuard ng;
  att(q, k, k, tensor(std::vector<int64_t>{3, 7}));
  viz::HeatmapGridTitles titles;
  titles.col_titles = words({"batch 0, valid_len 3", "batch 1, valid_len 7"});
  viz::write_heatmap_grid_svg((out / "d2l_additive.svg").string(), att.attention_weights.reshape({1, 2, 4, 10}), titles,
                              panel_options("AdditiveAttention with valid_lens, untrained", numbered(4), numbered(10), 16));
}

// Cross-attention between two sentences with a padded memory (CrossAttention, batch_first).
void self_cross(const fs::path& out) {
  const auto tgt = words({"<bos>", "le", "chat", "dort"});
  const auto src = words({"the", "cat", "sleeps", "<eos>", "<pad>", "<pad>"});
  manual_seed(8);
  nn::Embedding emb(32, 16);
  nn::CrossAttention cross(16, 2);
  const Tensor x = emb(tensor(std::vector<int64_t>{1, 20, 21, 22}, Shape{1, 4}));
  const Tensor m = emb(tensor(std::vector<int64_t>{4, 5, 6, 2, 0, 0}, Shape{1, 6}));
  const Tensor pad = tensor(std::vector<uint8_t>{0, 0, 0, 0, 1, 1}, Shape{1, 6}).to(kBool);  // True = padding
  NoGradGuard ng;
  const AttentionResult r = cross(x, m, pad, true);
  auto o = panel_options("CrossAttention(16, 2 heads), padded memory, untrained", tgt, src, 22);
  viz::write_heatmap_svg((out / "cross.svg").string(), r.weights.reshape({4, 6}), o);
}

// The channel gate CBAM learns on the digits set: mean gate per true class (3 epochs of training).
void channel(const fs::path& out, const fs::path& digits_csv) {
  const data::Digits digits = data::load_digits(digits_csv.string());
  train::DigitsOptions o;
  o.attention = "cbam";
  o.epochs = 3;
  const train::DigitsResult r = train::train_digits_cnn(digits, o);
  auto ho = panel_options("CBAM channel gate per digit class (test set, 3 epochs, test accuracy " +
                              std::to_string(int(std::lround(100 * r.test_accuracy))) + "%)",
                          numbered(10, "digit "), numbered(32), 14);
  ho.xlabel = "channel";
  ho.ylabel = "class";
  ho.colormap = viz::Colormap::Viridis;
  viz::write_heatmap_svg((out / "channel.svg").string(), r.channel_weights, ho);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <output dir>\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  try {
    fs::create_directories(out);
    scores(out);
    masking(out);
    sdpa(out);
    multihead(out);
    hard(out);
    positional(out);
    moe(out);
    local(out);
    luong(out);
    concat_linear(out);
    d2l(out);
    self_cross(out);
    channel(out, fs::path(ATTN_SOURCE_DIR) / "data" / "digits.csv.gz");
  } catch (const Error& e) {
    std::fprintf(stderr, "catalog_figures: %s\n", e.what());
    return 1;
  }
  std::printf("catalog_figures: wrote the catalog's heatmaps to %s\n", out.string().c_str());
  return 0;
}
