// Max-flow / min-cut by the Boykov–Kolmogorov algorithm (Y. Boykov and V. Kolmogorov, "An experimental
// comparison of min-cut/max-flow algorithms for energy minimization in vision", PAMI 2004), for the GraphCut
// step of the localisation (Simonyan et al. 2013, Sect. 3.2). Written for this project from the paper.
//
// The problem: a directed graph of nodes with a capacity on every arc, plus two terminals s (source) and t
// (sink) with a capacity s -> i and i -> t per node. Arcs come in pairs (i -> j, j -> i), each the other's
// sister. The solver finds the maximum s-t flow and the minimum cut that it saturates.
//
// The algorithm keeps two disjoint search trees: S, rooted at the source, and T, rooted at the sink. A node
// of S is reached from s through arcs of positive residual capacity; a node of T reaches t the same way.
// Every tree node has a parent edge, stored as the arc from the node to its parent (so for S the flow runs
// along the parent arc's sister, for T along the parent arc itself). Nodes that may still grow their tree
// are active and wait in a FIFO queue. Three stages repeat:
//   growth:       an active node claims its free neighbours for its tree, until it touches the other tree:
//                 that arc closes an s-t path;
//   augmentation: the bottleneck capacity is pushed along the path; the saturated parent edges make their
//                 children orphans (cut off from their root);
//   adoption:     each orphan looks for a new parent in its own tree whose own path to the root is intact
//                 (the origin check: the walk up must reach the terminal without meeting an orphan). If it
//                 finds none it becomes free, its children become orphans in turn, and its tree neighbours
//                 that could regrow into it become active.
// The loop ends when no active node is left. Two heuristics from the paper are kept: timestamps and
// distances to the terminal, so that adoption prefers short paths and stops walking up at nodes already
// verified in this round, and growth re-hangs a neighbour under a node closer to the terminal.
//
// The terminal arcs are not arcs here: each node holds one residual terminal capacity, source - sink after
// pushing min(source, sink) straight through (positive: residual capacity from s; negative: to t). A node
// with terminal capacity left is a root of its tree (S or T by the sign) and stays one until it saturates.
//
// Layout: nodes are 32-byte records (two per cache line); arc capacities are one array of doubles with each
// node's arcs contiguous. The general graph keeps compressed sparse rows (first arc per node, and per arc its
// head and sister); the grid keeps nothing per arc but the capacity: the image is framed by one ring of
// inert nodes so that every pixel has all its neighbours, and an arc's head and sister follow from its index.
// Each tree node also keeps a copy of its parent edge's residual capacity (or, for a root, its terminal
// residual), so that augmentation walks the paths through the node records alone.
//
// The cut returned: side[i] = 1 when node i ends in the tree S, which is exactly the set of nodes reachable
// from s in the final residual graph (the smallest source side among the minimum cuts); every other node,
// those in T and those that neither tree reached, has side 0 (sink side). So isolated nodes, or nodes whose
// source and sink capacities are equal, go to the sink side.
//
// Capacities are doubles and must be finite and >= 0: the bindings reject NaN, negatives and Infinity.
// Hard constraints are a large finite capacity K (larger than any cut that avoids it, e.g. 1 + the sum of all
// other capacities, or 1e12 for image energies).
//
// Bindings (synchronous, on the JS thread: no backend or open() needed):
//   maxflowGraph(nodes, edges: Int32Array[2E], capForward: Float64Array[E], capBackward: Float64Array[E],
//                source: Float64Array[nodes], sink: Float64Array[nodes]) -> { flow, side: Uint8Array[nodes] }
//     edge k joins edges[2k] -> edges[2k+1] with capacity capForward[k], and back with capBackward[k];
//   maxflowGrid(width, height, connectivity 4 | 8, source: Float64Array[H*W], sink: Float64Array[H*W],
//               pairwise: Float64Array[dirs*H*W]) -> { flow, side: Uint8Array[H*W] }
//     pixel p = y*W + x; pairwise[d*H*W + p] is the capacity (both ways) between p and its neighbour in
//     forward direction d: 0 right (x+1), 1 down (y+1), and for connectivity 8 also 2 down-right (x+1, y+1),
//     3 down-left (x-1, y+1); dirs = 2 or 4. Entries for neighbours outside the image are ignored.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "runtime.h"

namespace convis {
namespace {

// ---- the solver ----

constexpr int32_t kNone = -1;      // parent of a free node; `next` of a node outside the active queue
constexpr int32_t kTerminal = -2;  // parent of a node hanging directly from its tree's terminal
constexpr int32_t kOrphan = -3;    // parent of an orphan, whose parent edge was saturated
constexpr int32_t kMaxIndex = std::numeric_limits<int32_t>::max() - 1;  // nodes and arcs, with room for an end

enum Tree : uint8_t { kFree = 0, kSourceTree = 1, kSinkTree = 2 };

struct alignas(32) Node {
  // residual capacity towards the root in the tree's flow direction: for a root (parent kTerminal) its terminal
  // edge's, for any other tree node its parent edge's (a copy of the arc's). A node's terminal edge keeps
  // capacity only while the node is a root: roots leave their tree only once it is saturated.
  double cap;
  int32_t parent;      // arc from this node to its parent, or kTerminal / kOrphan / kNone
  int32_t parentNode;  // the parent itself (the head of `parent`), while parent >= 0
  int32_t next;        // next node in the active queue (the last points to itself), or kNone
  int32_t ts;          // timestamp: the round in which `dist` was last known correct
  int32_t dist;        // distance (in edges) to the terminal along parent edges, as of round ts
  uint8_t tree;        // kFree, kSourceTree or kSinkTree
};
static_assert(sizeof(Node) == 32, "two nodes per cache line");

/** An array left uninitialised (the builders write every element). */
template <typename T>
std::unique_ptr<T[]> uninitialised(size_t n) {
  return std::unique_ptr<T[]>(new T[n]);
}

/**
 * A general graph's arcs in compressed sparse rows: node i's arcs are [first[i], first[i + 1]), and arc a
 * enters link[a].head; its sister (the opposite direction of the same edge) is link[a].sister.
 */
struct GraphArcs {
  struct Link {
    int32_t head, sister;
  };
  std::unique_ptr<int32_t[]> first;
  std::unique_ptr<Link[]> link;
  int32_t begin(int32_t i) const { return first[i]; }
  int32_t end(int32_t i) const { return first[i + 1]; }
  int32_t head(int32_t a) const { return link[a].head; }
  int32_t sister(int32_t a) const { return link[a].sister; }
};

/**
 * A grid's arcs, found by arithmetic: node i owns arcs [i*K, i*K + K), one per direction; arc i*K + d enters
 * i + headOffset[d], and its sister is that node's arc in the opposite direction.
 */
template <int K>
struct GridArcs {
  int32_t headOffset[K];
  int32_t sisterOffset[K];
  int32_t begin(int32_t i) const { return i * K; }
  int32_t end(int32_t i) const { return i * K + K; }
  int32_t head(int32_t a) const { return static_cast<int32_t>(static_cast<uint32_t>(a) / K) + headOffset[static_cast<uint32_t>(a) % K]; }
  int32_t sister(int32_t a) const { return a + sisterOffset[static_cast<uint32_t>(a) % K]; }
};

template <class Arcs>
class Maxflow {
 public:
  /** n nodes; cap[a] is arc a's capacity (the solver's residual capacities from then on). */
  Maxflow(int32_t n, std::unique_ptr<double[]> cap, Arcs arcs)
      : n_(n), nodes_(uninitialised<Node>(static_cast<size_t>(n))), cap_(std::move(cap)), arcs_(std::move(arcs)) {}

  /** Node i's terminal capacities; every node needs them before solve(). */
  void terminals(int32_t i, double source, double sink) {
    flow_ += std::min(source, sink);  // pushed straight s -> i -> t
    nodes_[i].cap = source - sink;    // what is left: from the source (> 0) or to the sink (< 0)
  }

  /** Runs the three stages to the end; returns the maximum flow. */
  double solve() {
    time_ = 0;
    for (int32_t i = 0; i < n_; i++) {
      Node& v = nodes_[i];
      v.parentNode = kNone;
      v.ts = 0;
      v.next = kNone;
      if (v.cap != 0) {  // a root of S or T for as long as its terminal edge has capacity left
        v.tree = v.cap > 0 ? kSourceTree : kSinkTree;
        v.cap = std::abs(v.cap);
        v.parent = kTerminal;
        v.dist = 1;
        activate(i);
      } else {
        v.tree = kFree;
        v.parent = kNone;
        v.dist = 0;
      }
    }

    int32_t current = kNone;  // an active node whose growth found a path: it may have more
    for (;;) {
      int32_t i = current;
      if (i != kNone) {
        nodes_[i].next = kNone;
        if (nodes_[i].tree == kFree) i = kNone;  // freed during adoption
      }
      if (i == kNone && (i = nextActive()) == kNone) break;

      const int32_t bridge = grow(i);
      if (bridge == kNone) {  // i has no more free or opposite neighbours: it stays passive
        current = kNone;
        continue;
      }
      nodes_[i].next = i;  // marks i as queued so adoption does not queue it again; it is processed next
      current = i;
      if (time_ == kMaxTime) restamp();
      time_++;
      augment(bridge);
      // orphans nearer the terminals first (augment finds them from the bridge outwards): the lower ones may
      // then hang from a re-adopted upper one
      std::reverse(orphans_.begin(), orphans_.end());
      for (size_t k = 0; k < orphans_.size(); k++) adopt(orphans_[k]);  // adoption appends new orphans
      orphans_.clear();
    }
    return flow_;
  }

  /** 1 when node i is on the source side of the minimum cut (reachable from s in the residual graph). */
  uint8_t side(int32_t i) const { return nodes_[i].tree == kSourceTree ? 1 : 0; }

 private:
  void activate(int32_t i) {
    Node& v = nodes_[i];
    if (v.next != kNone) return;  // already queued (or the current node)
    v.next = i;
    if (last_ != kNone) nodes_[last_].next = i;
    else first_ = i;
    last_ = i;
  }

  /** The next active node still in a tree, or kNone when the queue runs out. */
  int32_t nextActive() {
    while (first_ != kNone) {
      const int32_t i = first_;
      Node& v = nodes_[i];
      first_ = v.next == i ? kNone : v.next;
      if (first_ == kNone) last_ = kNone;
      v.next = kNone;
      if (v.tree != kFree) return i;
    }
    return kNone;
  }

  /** Hangs w from node i (v) through w's arc `up`, whose edge has residual capacity cap in the tree's direction. */
  static void hang(Node& w, int32_t up, int32_t i, const Node& v, double cap) {
    w.parent = up;
    w.parentNode = i;
    w.cap = cap;
    w.ts = v.ts;
    w.dist = v.dist + 1;
  }

  /**
   * Growth from active node i: free neighbours reachable through a non-saturated arc join i's tree as its
   * children. Returns the arc from the S side to the T side when i touches the other tree, else kNone.
   */
  int32_t grow(int32_t i) {
    Node& v = nodes_[i];
    const int32_t end = arcs_.end(i);
    if (v.tree == kSourceTree) {
      for (int32_t a = arcs_.begin(i); a < end; a++) {
        const double cap = cap_[a];
        if (cap == 0) continue;  // i -> j saturated
        const int32_t j = arcs_.head(a);
        Node& w = nodes_[j];
        if (w.tree == kFree) {
          w.tree = kSourceTree;
          hang(w, arcs_.sister(a), i, v, cap);
          activate(j);
        } else if (w.tree == kSinkTree) {
          return a;
        } else if (w.ts <= v.ts && w.dist > v.dist) {  // a shorter path to the source through i
          hang(w, arcs_.sister(a), i, v, cap);
        }
      }
    } else {
      for (int32_t a = arcs_.begin(i); a < end; a++) {
        const int32_t back = arcs_.sister(a);
        const double cap = cap_[back];
        if (cap == 0) continue;  // j -> i saturated
        const int32_t j = arcs_.head(a);
        Node& w = nodes_[j];
        if (w.tree == kFree) {
          w.tree = kSinkTree;
          hang(w, back, i, v, cap);
          activate(j);
        } else if (w.tree == kSourceTree) {
          return back;
        } else if (w.ts <= v.ts && w.dist > v.dist) {
          hang(w, back, i, v, cap);
        }
      }
    }
    return kNone;
  }

  void makeOrphan(int32_t i) {
    nodes_[i].parent = kOrphan;
    orphans_.push_back(i);
  }

  /**
   * Augmentation along s -> ... -> tail(bridge) -> head(bridge) -> ... -> t by the path's bottleneck. The walks
   * read the capacities from the nodes' copies; pushing updates both arcs of each edge and the copy.
   */
  void augment(int32_t bridge) {
    const int32_t back = arcs_.sister(bridge);
    const int32_t sEnd = arcs_.head(back), tEnd = arcs_.head(bridge);
    double push = cap_[bridge];
    int32_t i;
    for (i = sEnd; nodes_[i].parent != kTerminal; i = nodes_[i].parentNode) push = std::min(push, nodes_[i].cap);
    push = std::min(push, nodes_[i].cap);
    for (i = tEnd; nodes_[i].parent != kTerminal; i = nodes_[i].parentNode) push = std::min(push, nodes_[i].cap);
    push = std::min(push, nodes_[i].cap);

    cap_[bridge] -= push;
    cap_[back] += push;
    // along both trees the parent edge loses `push` in the flow's direction and gains it the other way: for S
    // the flow runs parent -> child (the parent arc's sister), for T child -> parent (the parent arc)
    for (int side = 0; side < 2; side++) {
      for (i = side == 0 ? sEnd : tEnd;;) {
        Node& v = nodes_[i];
        const int32_t up = v.parent;
        if (up == kTerminal) break;
        const int32_t down = arcs_.sister(up);
        v.cap -= push;
        cap_[side == 0 ? up : down] += push;
        cap_[side == 0 ? down : up] = v.cap;
        if (v.cap == 0) makeOrphan(i);
        i = v.parentNode;
      }
      nodes_[i].cap -= push;  // the root's terminal edge
      if (nodes_[i].cap == 0) makeOrphan(i);
    }
    flow_ += push;
  }

  /**
   * Distance from node j to its tree's terminal along parent edges, or -1 when the walk meets an orphan
   * (j is cut off). Nodes verified in this round (ts == time_) end the walk early; the nodes walked are
   * stamped with this round and their distances.
   */
  int32_t origin(int32_t j) {
    int32_t d = 0, k = j;
    for (;;) {
      Node& u = nodes_[k];
      if (u.ts == time_) {
        d += u.dist;
        break;
      }
      d++;
      if (u.parent == kTerminal) {
        u.ts = time_;
        u.dist = 1;
        break;
      }
      if (u.parent == kOrphan) return -1;
      k = u.parentNode;
    }
    const int32_t found = d;
    for (k = j; nodes_[k].ts != time_; k = nodes_[k].parentNode) {
      nodes_[k].ts = time_;
      nodes_[k].dist = d--;
    }
    return found;
  }

  /** Adoption of orphan i: a new parent in its tree with an intact path to the terminal, or i becomes free. */
  void adopt(int32_t i) {
    Node& v = nodes_[i];
    const uint8_t tree = v.tree;
    const int32_t end = arcs_.end(i);
    int32_t best = kNone, bestDist = std::numeric_limits<int32_t>::max();
    double bestCap = 0;
    for (int32_t a = arcs_.begin(i); a < end; a++) {
      // a parent j must be able to send flow to i (S: j -> i) or take it from i (T: i -> j)
      const double cap = cap_[tree == kSourceTree ? arcs_.sister(a) : a];
      if (cap == 0) continue;
      const int32_t j = arcs_.head(a);
      if (nodes_[j].tree != tree) continue;
      const int32_t d = origin(j);
      if (d >= 0 && d < bestDist) {
        best = a;
        bestDist = d;
        bestCap = cap;
      }
    }
    if (best != kNone) {
      v.parent = best;
      v.parentNode = arcs_.head(best);
      v.cap = bestCap;
      v.ts = time_;
      v.dist = bestDist + 1;
      return;
    }
    // no parent: i leaves the tree; its children are orphaned, and neighbours that could regrow into it wake up
    for (int32_t a = arcs_.begin(i); a < end; a++) {
      const int32_t j = arcs_.head(a);
      Node& w = nodes_[j];
      if (w.tree != tree) continue;
      if (cap_[tree == kSourceTree ? arcs_.sister(a) : a] != 0) activate(j);
      if (w.parent >= 0 && w.parentNode == i) makeOrphan(j);
    }
    v.tree = kFree;
    v.parent = kNone;
  }

  /**
   * Before the round counter overflows: every tree node gets its exact distance, stamped with round 1.
   * Called between rounds, when there are no orphans, so every walk reaches a terminal.
   */
  void restamp() {
    for (int32_t i = 0; i < n_; i++) nodes_[i].ts = 0;
    time_ = 1;
    for (int32_t i = 0; i < n_; i++) {
      if (nodes_[i].tree != kFree) origin(i);
    }
  }

  static constexpr int32_t kMaxTime = std::numeric_limits<int32_t>::max();

  int32_t n_;
  std::unique_ptr<Node[]> nodes_;
  std::unique_ptr<double[]> cap_;  // residual capacity per arc
  Arcs arcs_;
  std::vector<int32_t> orphans_;  // adopted first to last; adoption appends
  int32_t first_ = kNone, last_ = kNone;  // the active queue
  int32_t time_ = 0;  // the round: augmentations so far (restamp() starts it again before it overflows)
  double flow_ = 0;
};

// ---- the graph and grid forms ----

/** Edge k is the arcs edges[2k] -> edges[2k+1] (capacity capForward[k]) and back (capBackward[k]). */
double solveGraph(int32_t n, const int32_t* edges, int32_t edgeCount, const double* capForward, const double* capBackward,
                  const double* source, const double* sink, uint8_t* side) {
  GraphArcs arcs;
  arcs.first = uninitialised<int32_t>(static_cast<size_t>(n) + 1);
  arcs.link = uninitialised<GraphArcs::Link>(2 * static_cast<size_t>(edgeCount));
  std::unique_ptr<double[]> cap = uninitialised<double>(2 * static_cast<size_t>(edgeCount));
  int32_t* first = arcs.first.get();
  std::fill(first, first + n + 1, 0);
  for (int32_t k = 0; k < 2 * edgeCount; k++) first[edges[k] + 1]++;
  for (int32_t i = 0; i < n; i++) first[i + 1] += first[i];
  std::vector<int32_t> fill(first, first + n);  // the next free arc of each node
  for (int32_t k = 0; k < edgeCount; k++) {
    const int32_t u = edges[2 * k], v = edges[2 * k + 1];
    const int32_t forward = fill[u]++, backward = fill[v]++;
    arcs.link[forward] = {v, backward};
    arcs.link[backward] = {u, forward};
    cap[forward] = capForward[k];
    cap[backward] = capBackward[k];
  }
  Maxflow<GraphArcs> g(n, std::move(cap), std::move(arcs));
  for (int32_t i = 0; i < n; i++) g.terminals(i, source[i], sink[i]);
  const double flow = g.solve();
  for (int32_t i = 0; i < n; i++) side[i] = g.side(i);
  return flow;
}

/**
 * A W x H grid with K-connectivity. Its nodes are the pixels inside a one-node frame: pixel (x, y) is node
 * (y + 1) * (W + 2) + x + 1, so that every pixel has all K neighbours and arcs are found by arithmetic. The
 * frame's nodes have no terminal capacity and every arc to or from them has capacity 0, so no tree ever
 * reaches them. Arcs per node: the forward directions first (the pairwise planes' order: right, down,
 * down-right, down-left), then their opposites in the same order.
 */
template <int K>
double solveGrid(int32_t W, int32_t H, const double* source, const double* sink, const double* pairwise, uint8_t* side) {
  constexpr int half = K / 2;
  constexpr int dx4[4] = {1, 0, -1, 0}, dy4[4] = {0, 1, 0, -1};
  constexpr int dx8[8] = {1, 0, 1, -1, -1, 0, -1, 1}, dy8[8] = {0, 1, 1, 1, 0, -1, -1, -1};
  const int* dx = K == 4 ? dx4 : dx8;
  const int* dy = K == 4 ? dy4 : dy8;
  const int32_t PW = W + 2, PH = H + 2, N = PW * PH;
  const size_t pixels = static_cast<size_t>(W) * H;

  GridArcs<K> arcs;
  for (int d = 0; d < K; d++) {
    const int opposite = d < half ? d + half : d - half;
    arcs.headOffset[d] = dy[d] * PW + dx[d];
    arcs.sisterOffset[d] = arcs.headOffset[d] * K + opposite - d;
  }
  std::unique_ptr<double[]> capHolder = uninitialised<double>(static_cast<size_t>(N) * K);
  double* cap = capHolder.get();
  // the frame: the first and last rows, and the first and last node of every row between
  std::fill(cap, cap + static_cast<size_t>(PW) * K, 0.0);
  std::fill(cap + static_cast<size_t>(N - PW) * K, cap + static_cast<size_t>(N) * K, 0.0);
  for (int32_t y = 0; y < H; y++) {
    const int32_t row = (y + 1) * PW;
    std::fill(cap + static_cast<size_t>(row) * K, cap + static_cast<size_t>(row + 1) * K, 0.0);
    std::fill(cap + static_cast<size_t>(row + PW - 1) * K, cap + static_cast<size_t>(row + PW) * K, 0.0);
    for (int32_t x = 0; x < W; x++) {
      const size_t p = static_cast<size_t>(y) * W + x;
      double* c = cap + static_cast<size_t>(row + x + 1) * K;
      for (int d = 0; d < K; d++) {
        const int32_t nx = x + dx[d], ny = y + dy[d];
        if (nx < 0 || nx >= W || ny < 0 || ny >= H) {
          c[d] = 0;
        } else if (d < half) {
          c[d] = pairwise[d * pixels + p];  // this pixel's own forward capacity
        } else {
          c[d] = pairwise[(d - half) * pixels + static_cast<size_t>(ny) * W + nx];  // the neighbour's, pointing back
        }
      }
    }
  }

  Maxflow<GridArcs<K>> g(N, std::move(capHolder), arcs);
  for (int32_t i = 0; i < PW; i++) {
    g.terminals(i, 0, 0);
    g.terminals(N - PW + i, 0, 0);
  }
  for (int32_t y = 0; y < H; y++) {
    const int32_t row = (y + 1) * PW;
    g.terminals(row, 0, 0);
    g.terminals(row + PW - 1, 0, 0);
    for (int32_t x = 0; x < W; x++) g.terminals(row + x + 1, source[y * W + x], sink[y * W + x]);
  }
  const double flow = g.solve();
  for (int32_t y = 0; y < H; y++) {
    for (int32_t x = 0; x < W; x++) side[y * W + x] = g.side((y + 1) * PW + x + 1);
  }
  return flow;
}

// ---- bindings ----

using Info = Napi::CallbackInfo;

[[noreturn]] void fail(const Info& info, const char* fn, const std::string& what) {
  throw Napi::Error::New(info.Env(), std::string(fn) + ": " + what);
}

/** A number as JS prints it (NaN, Infinity, 1e+21, ...). */
std::string jsNumber(const Info& info, double v) { return Napi::Number::New(info.Env(), v).ToString().Utf8Value(); }

const char* typedArrayName(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    default: return "a typed array";
  }
}

std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsTypedArray()) return typedArrayName(v.As<Napi::TypedArray>().TypedArrayType());
  if (v.IsArray()) return "an array";
  if (v.IsObject() && !v.IsFunction()) return "an object";
  std::string text = v.ToString().Utf8Value();
  return text.size() > 60 ? text.substr(0, 60) + "..." : text;
}

/** Argument i as a typed array of the given type and length (checked), not detached. */
template <typename T>
T typedArg(const Info& info, size_t i, const char* fn, const char* name, napi_typedarray_type type, int64_t length) {
  const Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    const std::string wanted = typedArrayName(type);
    fail(info, fn, std::string(name) + (wanted[0] == 'F' ? " must be a " : " must be an ") + wanted + ", got " + describe(v));
  }
  T a = v.As<T>();
  if (a.ArrayBuffer().IsDetached()) fail(info, fn, std::string(name) + "'s ArrayBuffer is detached");
  if (length >= 0 && static_cast<int64_t>(a.ElementLength()) != length) {
    fail(info, fn, std::string(name) + " must have " + std::to_string(length) + " entries, got " +
                       std::to_string(a.ElementLength()));
  }
  return a;
}

/** A Float64Array of `length` capacities, each finite and >= 0. */
const double* capacitiesArg(const Info& info, size_t i, const char* fn, const char* name, int64_t length) {
  Napi::Float64Array a = typedArg<Napi::Float64Array>(info, i, fn, name, napi_float64_array, length);
  const double* p = a.Data();
  for (int64_t k = 0; k < length; k++) {
    if (!(p[k] >= 0) || !std::isfinite(p[k])) {
      fail(info, fn, std::string(name) + "[" + std::to_string(k) + "] must be a finite capacity >= 0, got " +
                         jsNumber(info, p[k]) + " (give hard constraints as a large finite capacity)");
    }
  }
  return p;
}

/** { flow, side } with side a new Uint8Array of n that fill() writes. */
template <typename Fill>
Napi::Value result(const Info& info, int64_t n, Fill fill) {
  Napi::Env env = info.Env();
  Napi::Uint8Array side = Napi::Uint8Array::New(env, static_cast<size_t>(n));
  const double flow = fill(side.Data());
  Napi::Object out = Napi::Object::New(env);
  out.Set("flow", Napi::Number::New(env, flow));
  out.Set("side", side);
  return out;
}

// maxflowGraph(nodes, edges, capForward, capBackward, source, sink) -> { flow, side }
Napi::Value MaxflowGraph(const Info& info) {
  const char* fn = "maxflowGraph";
  const index_t nodes = intArg(info, 0, fn, "nodes", 0);
  if (nodes > kMaxIndex) {
    fail(info, fn, "nodes " + std::to_string(nodes) + " overflows the solver's 32-bit indices (at most " +
                       std::to_string(kMaxIndex) + ")");
  }
  Napi::Int32Array edgeArray = typedArg<Napi::Int32Array>(info, 1, fn, "edges", napi_int32_array, -1);
  const int64_t pairs = static_cast<int64_t>(edgeArray.ElementLength());
  if (pairs % 2) fail(info, fn, "edges must hold pairs of node indices (an even length), got " + std::to_string(pairs) + " entries");
  const int64_t E = pairs / 2;
  if (2 * E > kMaxIndex) {
    fail(info, fn, std::to_string(E) + " edges overflow the solver's 32-bit arc indices (at most " +
                       std::to_string(kMaxIndex / 2) + ")");
  }
  const double* capForward = capacitiesArg(info, 2, fn, "capForward", E);
  const double* capBackward = capacitiesArg(info, 3, fn, "capBackward", E);
  const double* source = capacitiesArg(info, 4, fn, "source", nodes);
  const double* sink = capacitiesArg(info, 5, fn, "sink", nodes);
  const int32_t* edges = edgeArray.Data();
  for (int64_t k = 0; k < E; k++) {
    for (int64_t e = 2 * k; e < 2 * k + 2; e++) {
      if (edges[e] < 0 || edges[e] >= nodes) {
        fail(info, fn, "edges[" + std::to_string(e) + "] = " + std::to_string(edges[e]) + " is not a node index in [0, " +
                           std::to_string(nodes) + ")");
      }
    }
    if (edges[2 * k] == edges[2 * k + 1]) {
      fail(info, fn, "edge " + std::to_string(k) + " (edges[" + std::to_string(2 * k) + "], edges[" + std::to_string(2 * k + 1) +
                         "]) is a self-loop on node " + std::to_string(edges[2 * k]));
    }
  }
  return result(info, nodes, [&](uint8_t* side) {
    return solveGraph(static_cast<int32_t>(nodes), edges, static_cast<int32_t>(E), capForward, capBackward, source, sink, side);
  });
}

// maxflowGrid(width, height, connectivity, source, sink, pairwise) -> { flow, side }
Napi::Value MaxflowGrid(const Info& info) {
  const char* fn = "maxflowGrid";
  const index_t W = intArg(info, 0, fn, "width", 1), H = intArg(info, 1, fn, "height", 1);
  const index_t K = intArg(info, 2, fn, "connectivity", 0);
  if (K != 4 && K != 8) fail(info, fn, "connectivity must be 4 or 8, got " + std::to_string(K));
  const index_t n = checkedMul(info.Env(), W, H, fn);
  // the solver's nodes include a one-node frame around the image
  if ((W + 2) * (H + 2) > kMaxIndex / K) {
    fail(info, fn, "a " + std::to_string(W) + "x" + std::to_string(H) + " grid of connectivity " + std::to_string(K) +
                       " overflows the solver's 32-bit arc indices (at most " + std::to_string(kMaxIndex / K) +
                       " nodes, counting a frame of one pixel)");
  }
  const double* source = capacitiesArg(info, 3, fn, "source", n);
  const double* sink = capacitiesArg(info, 4, fn, "sink", n);
  const double* pairwise = capacitiesArg(info, 5, fn, "pairwise", (K / 2) * n);
  return result(info, n, [&](uint8_t* side) {
    const int32_t w = static_cast<int32_t>(W), h = static_cast<int32_t>(H);
    return K == 4 ? solveGrid<4>(w, h, source, sink, pairwise, side) : solveGrid<8>(w, h, source, sink, pairwise, side);
  });
}

}  // namespace

void registerMaxflow(Napi::Env env, Napi::Object exports) {
  exports.Set("maxflowGraph", guarded(env, "maxflowGraph", MaxflowGraph));
  exports.Set("maxflowGrid", guarded(env, "maxflowGrid", MaxflowGrid));
}

}  // namespace convis
