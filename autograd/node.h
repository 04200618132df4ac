#pragma once
// The define-by-run tape. Every differentiable op that sees an input requiring grad (and grad mode
// on) gives its output a Node: a backward function from the output's gradient to one gradient per
// input, plus edges to the inputs' nodes. backward() walks the nodes in reverse creation order.
//
// Rule for backward closures: never capture the op's own output tensor (that would make
// output -> node -> output a cycle and leak); capture out.detach() instead.
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/tensor.h"

namespace abbe::autograd {

struct Node {
  virtual ~Node() = default;
  virtual const char* name() const = 0;
  // Gradient of this node's output -> gradient for each input (undefined where none).
  virtual std::vector<Tensor> apply(const Tensor& grad_output) = 0;

  std::vector<std::shared_ptr<Node>> next;  // one per input; nullptr where the input needs no grad
  uint64_t sequence = 0;                    // creation order; later nodes run first
};

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

// Thread-local switch: while a NoGradGuard lives, ops record nothing.
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// True when grad mode is on and some input requires grad.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Gives `out` a node named `name` whose backward is `fn`, if any input requires grad.
// Returns out (for chaining).
Tensor record(const char* name, const Tensor& out, const std::vector<Tensor>& inputs, BackwardFn fn);

// Runs backward from `root` with `grad` (ones for a single-element root when undefined).
void run_backward(const Tensor& root, const Tensor& grad);

// Wall time of each backward function, by node name (the op's name as recorded; AccumulateGrad
// for the adds into leaves' .grad), summed over the backward passes run while it is installed on
// this thread. The benches use it to show where a training step's backward goes.
struct BackwardProfile {
  struct Entry {
    double seconds = 0;
    int64_t calls = 0;
  };
  std::map<std::string, Entry> by_node;
};
// Installs `p` for this thread's backward passes (nullptr: off). Returns the previous one.
BackwardProfile* set_backward_profile(BackwardProfile* p);

}  // namespace abbe::autograd
