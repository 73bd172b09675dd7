global using Xunit;
global using MetaRl.Core;

// libtorch's thread count is process-wide and runs set it; running tests one at a time keeps
// the same-seed-same-result tests exact.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
