#pragma once
// Running a sequence network over movies of any length and frames of any size, with memory that
// depends on neither: the movie goes through in overlapping temporal windows (each frame written
// by exactly one window, the one that sees it with the most context), and each window through in
// overlapping spatial tiles blended with linear ramps (no seams).
#include <cstdint>
#include <functional>
#include <vector>

#include "graph/tensor.h"

namespace abbe {

// Frames [start, start + length) run through the network; frames [keep_begin, keep_end)
// (absolute indices, inside the run) are written from this window.
struct MovieWindow {
  int64_t start, length, keep_begin, keep_end;
};

// Windows of `window` frames covering `frames`, each frame kept exactly once, in order. Interior
// windows keep their `keep` middle frames ((window - keep) / 2 frames of context on each side);
// the first and last windows also keep the frames before / after, which have context on one side
// only. A movie no longer than the window is one window. Throws abbe::Error on bad arguments.
std::vector<MovieWindow> plan_windows(int64_t frames, int64_t window, int64_t keep);

// An input region of a frame: rows [y0, y0 + h), columns [x0, x0 + w).
struct FrameTile {
  int64_t y0, x0, h, w;
};

// Tiles of at most tile x tile pixels covering an H x W frame, neighbours overlapping by at least
// `overlap` pixels (tile > overlap >= 0). One tile when the frame fits.
std::vector<FrameTile> plan_tiles(int64_t H, int64_t W, int64_t tile, int64_t overlap);

// Runs `fn` (input (..., h, w) -> output (..., h f, w f), the same leading dims for any tile) on
// every tile of x (..., H, W) and blends the outputs into (..., H f, W f). Towards a neighbour a
// tile's output is weighted 0 over the outer quarter of the overlap (where its zero padding
// shows), then rises linearly over the middle half; towards the frame's border it is flat.
// Weights are normalised per pixel. The overlap should cover the network's border effects
// (twice their depth). With one tile, fn(x) itself.
Tensor run_tiled(const Tensor& x, int64_t scale, int64_t tile, int64_t overlap,
                 const std::function<Tensor(const Tensor&)>& fn);

}  // namespace abbe
