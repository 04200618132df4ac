#include <atomic>
#include <chrono>
#include <map>
#include <queue>
#include <unordered_map>
#include <utility>

#include "autograd/node.h"
#include "autograd/ops.h"

namespace abbe::autograd {

namespace {

thread_local bool t_grad_enabled = true;
thread_local BackwardProfile* t_profile = nullptr;
std::atomic<uint64_t> g_sequence{0};

struct FunctionNode final : Node {
  FunctionNode(const char* n, BackwardFn f) : name_(n), fn(std::move(f)) {}
  const char* name() const override { return name_; }
  std::vector<Tensor> apply(const Tensor& g) override { return fn(g); }
  const char* name_;
  BackwardFn fn;
};

// Adds the incoming gradient into a leaf's .grad.
struct AccumulateGrad final : Node {
  explicit AccumulateGrad(std::weak_ptr<TensorImpl> l) : leaf(std::move(l)) {}
  const char* name() const override { return "AccumulateGrad"; }
  std::vector<Tensor> apply(const Tensor& g) override {
    if (auto impl = leaf.lock()) {
      if (!impl->grad.defined()) {
        // Own the memory: g may be a view of something else, or seen by another node.
        impl->grad = g.is_sole_owner() && g.is_contiguous() ? g : g.clone();
      } else {
        add_(impl->grad, g);
      }
    }
    return {};
  }
  std::weak_ptr<TensorImpl> leaf;
};

std::shared_ptr<Node> edge_for(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return nullptr;
  if (t.grad_fn()) return t.grad_fn();
  return t.grad_accumulator();
}

}  // namespace

bool grad_enabled() { return t_grad_enabled; }
BackwardProfile* set_backward_profile(BackwardProfile* p) { return std::exchange(t_profile, p); }
NoGradGuard::NoGradGuard() : prev_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = prev_; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}
bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(const char* name, const Tensor& out, const std::vector<Tensor>& inputs, BackwardFn fn) {
  if (!needs_grad(inputs)) return out;
  auto node = std::make_shared<FunctionNode>(name, std::move(fn));
  node->sequence = ++g_sequence;
  node->next.reserve(inputs.size());
  for (const Tensor& t : inputs) node->next.push_back(edge_for(t));
  out.set_grad_fn(std::move(node));
  return out;
}

void run_backward(const Tensor& root, const Tensor& grad_in) {
  ABBE_CHECK(root.requires_grad(), "backward: the tensor does not require grad (no input of the ",
             "computation had requires_grad set, or it ran under NoGradGuard)");
  Tensor grad = grad_in;
  if (!grad.defined()) {
    ABBE_CHECK(root.numel() == 1, "backward: an implicit gradient needs a single-element tensor, ",
               "got shape ", root.shape(), "; pass the gradient explicitly");
    grad = Tensor::ones(root.shape(), root.dtype(), root.device());
  }
  check_same_shape(root, grad, "backward: gradient vs tensor");
  NoGradGuard no_grad;  // backward closures compute plain values
  std::shared_ptr<Node> start = root.grad_fn() ? root.grad_fn() : root.grad_accumulator();

  // Count, for every reachable node, how many edges point at it.
  std::unordered_map<Node*, int> deps;
  std::vector<Node*> stack{start.get()};
  deps[start.get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (auto& nx : n->next) {
      if (!nx) continue;
      if (deps[nx.get()]++ == 0) stack.push_back(nx.get());
    }
  }

  // Ready nodes, newest first, so a node runs after everything created later that feeds it.
  auto later = [](Node* a, Node* b) { return a->sequence < b->sequence; };
  std::priority_queue<Node*, std::vector<Node*>, decltype(later)> ready(later);
  std::unordered_map<Node*, Tensor> pending;
  pending[start.get()] = grad;
  ready.push(start.get());
  while (!ready.empty()) {
    Node* n = ready.top();
    ready.pop();
    Tensor g = std::move(pending[n]);
    pending.erase(n);
    // A node no gradient reached still runs its bookkeeping, so its inputs get released.
    std::vector<Tensor> grads;
    if (g.defined()) {
      const auto t0 = std::chrono::steady_clock::now();
      grads = n->apply(g);
      if (t_profile) {
        auto& e = t_profile->by_node[n->name()];
        e.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ++e.calls;
      }
    }
    for (size_t i = 0; i < n->next.size(); ++i) {
      Node* nx = n->next[i].get();
      if (!nx) continue;
      if (i < grads.size() && grads[i].defined()) {
        Tensor& acc = pending[nx];
        if (!acc.defined()) {
          acc = grads[i];
        } else {
          const auto t0 = std::chrono::steady_clock::now();
          // In place when nothing else sees acc (a backward may hand the same tensor to two
          // inputs, as add's does): saves an allocation and a pass over memory.
          if (acc.is_sole_owner() && acc.is_contiguous() && acc.shape() == grads[i].shape() &&
              acc.dtype() == grads[i].dtype()) {
            add_(acc, grads[i]);
          } else {
            acc = add(acc, grads[i]);
          }
          if (t_profile) {
            auto& e = t_profile->by_node["(sum of gradients)"];
            e.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            ++e.calls;
          }
        }
      }
      if (--deps[nx] == 0) ready.push(nx);
    }
  }
}

}  // namespace abbe::autograd

namespace abbe {

std::shared_ptr<autograd::Node> Tensor::grad_accumulator() const {
  ABBE_CHECK(is_leaf() && requires_grad(), "grad_accumulator: not a leaf that requires grad");
  auto acc = impl_->accumulator.lock();
  if (!acc) {
    acc = std::make_shared<autograd::AccumulateGrad>(std::weak_ptr<TensorImpl>(impl_));
    impl_->accumulator = acc;
  }
  return acc;
}

void Tensor::backward(const Tensor& grad) const { autograd::run_backward(*this, grad); }

}  // namespace abbe
