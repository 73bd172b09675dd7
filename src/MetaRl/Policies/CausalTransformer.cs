using static TorchSharp.torch;

namespace MetaRl.Policies;

/// <summary>
/// A small decoder-only (GPT-style) transformer over a trial's steps, functional like the other networks (its
/// weights live in a <see cref="ParameterSet"/> under a prefix). Each step t is one token:
///   h_t = W_in x_t + b_in + P[position of t within its episode],
/// then L pre-layer-norm blocks h += Attention(LN(h)); h += MLP(LN(h)) and a final layer norm. Attention is causal.
/// The position is within the episode, not within the trial, so a trial may run more episodes at test time than in
/// training; which episode a token came from is in its input (the done flags), and attention over past episodes is
/// otherwise order-free, as the evidence a learner needs (which action gave which reward) is.
///
/// The context can be limited to the last <c>contextEpisodes</c> episodes (all of the trial's when negative): a
/// step of episode e is computed from the tokens of episodes e - K .. e alone, through every layer. A plain sliding
/// attention window would not do: through L layers a step would still read up to L x K episodes back, via the
/// features of the tokens it attends to. So each episode's steps run in a window of their own: whole trials
/// (training) as a batch of windows, one per episode; step by step (the sampler), with a key-value cache that is
/// recomputed within the new window when an episode starts and moves the window.
/// </summary>
public sealed class CausalTransformer
{
    /// <summary>The weights under <paramref name="prefix"/>: GPT-2's initialisation (normal 0.02, residual projections scaled by 1/sqrt(2L), zero biases, unit gains); temporaries for ParameterSet.Leaves to copy, in the caller's dispose scope.</summary>
    public static List<(string, Tensor)> Init(string prefix, int inputSize, int modelSize, int layers, int heads, int maxPosition, Rng rng, bool attentionSink = false)
    {
        if (modelSize % heads != 0) throw new ArgumentException($"model size {modelSize} must be a multiple of heads ({heads})");
        Tensor Normal(double std, params long[] shape)
        {
            var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < data.Length; i++) data[i] = (float)(std * rng.Normal());
            return tensor(data, shape);
        }
        int d = modelSize;
        double residual = 0.02 / Math.Sqrt(2.0 * layers);
        var items = new List<(string, Tensor)>
        {
            ($"{prefix}embed.weight", Normal(1 / Math.Sqrt(inputSize), d, inputSize)), ($"{prefix}embed.bias", zeros(d)),
            ($"{prefix}position", Normal(0.02, maxPosition, d)),
        };
        for (int l = 0; l < layers; l++)
        {
            string b = $"{prefix}block{l}.";
            items.AddRange(
            [
                (b + "ln1.weight", ones(d)), (b + "ln1.bias", zeros(d)),
                (b + "qkv.weight", Normal(0.02, 3 * d, d)), (b + "qkv.bias", zeros(3 * d)),
                (b + "out.weight", Normal(residual, d, d)), (b + "out.bias", zeros(d)),
                (b + "ln2.weight", ones(d)), (b + "ln2.bias", zeros(d)),
                (b + "fc.weight", Normal(0.02, 4 * d, d)), (b + "fc.bias", zeros(4 * d)),
                (b + "proj.weight", Normal(residual, d, 4 * d)), (b + "proj.bias", zeros(d)),
            ]);
        }
        items.AddRange([($"{prefix}ln_f.weight", ones(d)), ($"{prefix}ln_f.bias", zeros(d))]);
        // Drawn after the others, so that a transformer without them starts from the same weights.
        if (attentionSink)
            for (int l = 0; l < layers; l++)
                items.AddRange([($"{prefix}block{l}.sink_key", Normal(0.02, heads, d / heads)), ($"{prefix}block{l}.sink_value", zeros(heads, d / heads))]);
        return items;
    }

    public CausalTransformer(ParameterSet parameters, string prefix, int layers, int heads, int contextEpisodes)
    {
        _p = parameters; _prefix = prefix; Layers = layers; Heads = heads; ContextEpisodes = contextEpisodes;
        ModelSize = (int)parameters[prefix + "embed.weight"].shape[0];
        MaxPosition = (int)parameters[prefix + "position"].shape[0];
        AttentionSink = parameters.Names.Contains(prefix + "block0.sink_key");
    }

    /// <summary>
    /// Whether every attention has a learned key and value of its own beside the tokens' (an "attention sink"): the
    /// weight the tokens get then depends on how many there are, so a head can count (softmax over the tokens alone
    /// averages them: the mean reward of an arm's pulls, never how many pulls it rests on).
    /// </summary>
    public bool AttentionSink { get; }

    readonly ParameterSet _p;
    readonly string _prefix;

    public int Layers { get; }
    public int Heads { get; }
    public int ModelSize { get; }
    public int MaxPosition { get; }
    /// <summary>Past episodes a token attends to besides its own; negative: every episode of the trial.</summary>
    public int ContextEpisodes { get; }

    Tensor P(string name) => _p[_prefix + name];

    /// <summary>
    /// Features [T, B, D] of whole trials: inputs [T, B, in] with, for every step, its episode's index within the
    /// trial and its position within the episode ([T, B] each, int64). The tokens run in windows (one per trial,
    /// or one per episode of each trial with a limited context), gathered into a batch and scattered back.
    /// </summary>
    public Tensor Forward(Tensor inputs, Tensor episode, Tensor position)
    {
        int steps = (int)inputs.shape[0], trials = (int)inputs.shape[1];
        var (gather, source, windows, width) = Windows(episode.data<long>().ToArray(), steps, trials, ContextEpisodes);
        var tokens = Embed(inputs, position).reshape(steps * trials, ModelSize);
        var x = tokens.index_select(0, tensor(gather)).view(windows, width, ModelSize);
        x = Blocks(x, ones(width, width, dtype: ScalarType.Bool).tril(), null); // padding sits at a window's end, after every real token
        return x.reshape(windows * width, ModelSize).index_select(0, tensor(source)).view(steps, trials, ModelSize);
    }

    /// <summary>
    /// The windows of whole trials [T, B] (time-major, element (t, b) at t * B + b): for each, the tokens it holds
    /// (<c>gather</c>, [windows x width], padded by repeating its last token), and for each token the row of the
    /// windows' output that computes it (<c>source</c>). With a context of K episodes episode e's window holds
    /// episodes e - K .. e and computes episode e's tokens; with all of it, one window per trial computes the trial.
    /// A trial's padding after its end counts as part of its last episode (causal attention keeps it out of every real step).
    /// </summary>
    internal static (long[] Gather, long[] Source, int Windows, int Width) Windows(long[] episode, int steps, int trials, int contextEpisodes)
    {
        var spans = new List<(int Trial, int From, int OwnFrom, int To)>(); // window [From, To), computing [OwnFrom, To)
        for (int b = 0; b < trials; b++)
        {
            var starts = new List<int> { 0 };
            for (int t = 1; t < steps; t++)
                if (episode[t * trials + b] != episode[(t - 1) * trials + b]) starts.Add(t);
            if (contextEpisodes < 0) { spans.Add((b, 0, 0, steps)); continue; }
            for (int e = 0; e < starts.Count; e++)
            {
                int end = e + 1 == starts.Count ? steps : starts[e + 1];
                spans.Add((b, starts[Math.Max(0, e - contextEpisodes)], starts[e], end));
            }
        }
        int width = spans.Max(w => w.To - w.From);
        var gather = new long[spans.Count * width];
        var source = new long[steps * trials];
        for (int n = 0; n < spans.Count; n++)
        {
            var (b, from, own, to) = spans[n];
            for (int j = 0; j < width; j++) gather[n * width + j] = (long)Math.Min(from + j, to - 1) * trials + b;
            for (int t = own; t < to; t++) source[t * trials + b] = (long)n * width + (t - from);
        }
        return (gather, source, spans.Count, width);
    }

    /// <summary>
    /// The blocks over tokens x [N, L, D] with <paramref name="allowed"/> (broadcast to [N, 1, L, L]) saying which key each
    /// query may attend to; with <paramref name="cache"/>, every layer's keys and values are written into it from slot 0.
    /// </summary>
    Tensor Blocks(Tensor x, Tensor allowed, Cache? cache)
    {
        for (int l = 0; l < Layers; l++)
        {
            string b = $"block{l}.";
            var (q, k, v) = Qkv(LayerNorm(x, b + "ln1"), b);
            if (cache is not null) { cache.Keys[l].narrow(2, 0, k.shape[2]).copy_(k); cache.Values[l].narrow(2, 0, v.shape[2]).copy_(v); }
            x = x + Attend(q, k, v, allowed, b);
            x = x + Mlp(LayerNorm(x, b + "ln2"), b);
        }
        return LayerNorm(x, "ln_f");
    }

    /// <summary>
    /// The state of a batch of trials run step by step: the raw inputs and positions of the steps in the current
    /// windows, every layer's keys and values for them [B, heads, capacity, D/heads] (slot j holds step Offset + j;
    /// the first <see cref="Length"/> filled), and each trial's position in its episode, episode start times and window
    /// start. Grows by doubling; drops the steps no window holds any more. Disposed with the rollout.
    /// </summary>
    public sealed class Cache(int trials, int layers) : IDisposable
    {
        public Tensor[] Keys { get; } = new Tensor[layers];
        public Tensor[] Values { get; } = new Tensor[layers];
        public Tensor? Inputs { get; set; }
        public Tensor? Positions { get; set; }
        public int Length { get; set; }
        /// <summary>The step of slot 0, counted from the start of the run.</summary>
        public int Offset { get; set; }
        public int Trials => trials;
        public long[] Position { get; } = new long[trials];
        /// <summary>Each trial's episode start steps (from the start of the run), since its current trial began.</summary>
        public List<int>[] EpisodeStarts { get; } = Enumerable.Range(0, trials).Select(_ => new List<int>()).ToArray();
        /// <summary>The first step each trial's current window holds.</summary>
        public int[] WindowStart { get; } = new int[trials];

        public void Dispose()
        {
            foreach (var t in Keys) t?.Dispose();
            foreach (var t in Values) t?.Dispose();
            Inputs?.Dispose();
            Positions?.Dispose();
        }
    }

    /// <summary>
    /// One step of every trial (no graph): inputs [B, in], whether each trial's previous step ended an episode and
    /// whether this is its first step (a trial's start); returns the features [B, D], those of <see cref="Forward"/>
    /// on the same trials. Within a window the step attends to the cached keys and values; when a step moves some
    /// trial's window (an episode starts with the context limited, or a trial starts), the cache is recomputed over
    /// the steps the windows hold, each trial's keys restricted to its own window, this step included.
    /// </summary>
    public Tensor Step(Tensor inputs, ReadOnlySpan<bool> previousDone, ReadOnlySpan<bool> firstStep, Cache cache)
    {
        int trials = cache.Trials, t = cache.Offset + cache.Length;
        bool moved = false;
        for (int b = 0; b < trials; b++)
        {
            var starts = cache.EpisodeStarts[b];
            if (firstStep[b]) { cache.Position[b] = 0; starts.Clear(); starts.Add(t); }
            else if (previousDone[b]) { cache.Position[b] = 0; starts.Add(t); }
            else cache.Position[b]++;
            int window = ContextEpisodes < 0 ? starts[0] : starts[Math.Max(0, starts.Count - 1 - ContextEpisodes)];
            moved |= window != cache.WindowStart[b];
            cache.WindowStart[b] = window;
        }
        if (moved) Drop(cache, cache.WindowStart.Min() - cache.Offset);
        Append(cache, inputs, tensor(cache.Position, [trials]));
        int length = cache.Length;
        // allowed[b, j]: slot j is in trial b's window.
        var allowed = (arange(length) + cache.Offset).unsqueeze(0) >= tensor(cache.WindowStart, [trials, 1]).to(int64);
        if (moved)
        {
            var x = Embed(cache.Inputs!.narrow(1, 0, length), cache.Positions!.narrow(1, 0, length));
            // A slot outside a trial's window (kept for another trial's) attends to itself alone there: its row stays
            // finite (a row with no key would be NaN, and 0 x NaN would reach the real rows through the weights).
            var mask = ones(length, length, dtype: ScalarType.Bool).tril().unsqueeze(0).logical_and(allowed.unsqueeze(1))
                .logical_or(eye(length, dtype: ScalarType.Bool).unsqueeze(0)).unsqueeze(1); // [B, 1, L, L]
            return Blocks(x, mask, cache).select(1, length - 1);
        }
        var h = Embed(inputs.unsqueeze(1), tensor(cache.Position, [trials, 1])); // [B, 1, D]
        var keysAllowed = allowed.unsqueeze(1).unsqueeze(1); // [B, 1, 1, L]
        for (int l = 0; l < Layers; l++)
        {
            string b = $"block{l}.";
            var (q, k, v) = Qkv(LayerNorm(h, b + "ln1"), b);
            cache.Keys[l].narrow(2, length - 1, 1).copy_(k);
            cache.Values[l].narrow(2, length - 1, 1).copy_(v);
            h = h + Attend(q, cache.Keys[l].narrow(2, 0, length), cache.Values[l].narrow(2, 0, length), keysAllowed, b);
            h = h + Mlp(LayerNorm(h, b + "ln2"), b);
        }
        return LayerNorm(h, "ln_f").squeeze(1);
    }

    /// <summary>Adds a step's raw input and position to the cache, making room by doubling (the buffers outlive the step's dispose scope).</summary>
    void Append(Cache cache, Tensor inputs, Tensor position)
    {
        Reallocate(cache, 0, cache.Length + 1);
        cache.Inputs!.select(1, cache.Length).copy_(inputs);
        cache.Positions!.select(1, cache.Length).copy_(position);
        cache.Length++;
    }

    /// <summary>Forgets the first <paramref name="slots"/> slots (steps no window holds any more).</summary>
    void Drop(Cache cache, int slots)
    {
        if (slots <= 0) return;
        Reallocate(cache, slots, cache.Length - slots + 1);
        cache.Offset += slots;
        cache.Length -= slots;
    }

    /// <summary>New buffers holding at least <paramref name="needed"/> slots when the old ones are too small or <paramref name="drop"/> slots go; the kept slots are copied.</summary>
    void Reallocate(Cache cache, int drop, int needed)
    {
        long capacity = cache.Inputs?.shape[1] ?? 0;
        if (drop == 0 && needed <= capacity) return;
        long next = 64;
        while (next < needed) next *= 2;
        int keep = cache.Length - drop, trials = cache.Trials, dh = ModelSize / Heads, dim = (int)P("embed.weight").shape[1];
        Tensor Moved(Tensor? old, long[] shape, ScalarType type, int timeDim)
        {
            var t = zeros(shape, dtype: type);
            if (old is not null)
            {
                if (keep > 0) t.narrow(timeDim, 0, keep).copy_(old.narrow(timeDim, drop, keep));
                old.Dispose();
            }
            return t.DetachFromDisposeScope();
        }
        for (int l = 0; l < Layers; l++)
        {
            cache.Keys[l] = Moved(cache.Keys[l], [trials, Heads, next, dh], float32, 2);
            cache.Values[l] = Moved(cache.Values[l], [trials, Heads, next, dh], float32, 2);
        }
        cache.Inputs = Moved(cache.Inputs, [trials, next, dim], float32, 1);
        cache.Positions = Moved(cache.Positions, [trials, next], int64, 1);
    }

    Tensor Embed(Tensor inputs, Tensor position)
    {
        var table = P("position").index_select(0, position.clamp_max(MaxPosition - 1).reshape(-1)).reshape([.. position.shape, ModelSize]);
        return nn.functional.linear(inputs, P("embed.weight"), P("embed.bias")) + table;
    }

    /// <summary>Queries, keys and values [B, heads, T, D/heads] of x [B, T, D].</summary>
    (Tensor Q, Tensor K, Tensor V) Qkv(Tensor x, string block)
    {
        long batch = x.shape[0], steps = x.shape[1];
        var qkv = nn.functional.linear(x, P(block + "qkv.weight"), P(block + "qkv.bias"))
            .view(batch, steps, 3, Heads, ModelSize / Heads).permute(2, 0, 3, 1, 4); // [3, B, heads, T, dh]
        return (qkv[0], qkv[1], qkv[2]);
    }

    /// <summary>softmax(q k^T / sqrt(d)) v over the allowed keys, heads joined and projected: [B, Tq, D].</summary>
    Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor allowed, string block)
    {
        if (AttentionSink)
        {
            // The sink: one more key and value per head, always allowed, before the tokens.
            long batch = q.shape[0], queries = q.shape[2];
            var sinkKey = P(block + "sink_key").unsqueeze(0).unsqueeze(2).expand(batch, Heads, 1, ModelSize / Heads);
            var sinkValue = P(block + "sink_value").unsqueeze(0).unsqueeze(2).expand(batch, Heads, 1, ModelSize / Heads);
            k = cat([sinkKey, k], 2);
            v = cat([sinkValue, v], 2);
            var shape = allowed.shape;
            allowed = cat([ones([.. shape[..^1], 1], dtype: ScalarType.Bool), allowed], -1);
        }
        var scores = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(ModelSize / Heads);
        var weights = scores.masked_fill(allowed.logical_not(), float.NegativeInfinity).softmax(-1);
        var o = weights.matmul(v).transpose(1, 2); // [B, Tq, heads, dh]
        o = o.reshape(o.shape[0], o.shape[1], ModelSize);
        return nn.functional.linear(o, P(block + "out.weight"), P(block + "out.bias"));
    }

    Tensor Mlp(Tensor x, string block) =>
        nn.functional.linear(nn.functional.gelu(nn.functional.linear(x, P(block + "fc.weight"), P(block + "fc.bias"))), P(block + "proj.weight"), P(block + "proj.bias"));

    Tensor LayerNorm(Tensor x, string name) => nn.functional.layer_norm(x, [ModelSize], P(name + ".weight"), P(name + ".bias"), 1e-5);

    /// <summary>Each step's episode index within its trial and position within its episode, from the done flags of the inputs ([T, B] each; a trial's column starts at t = 0).</summary>
    public static (Tensor Episode, Tensor Position) EpisodesOf(float[] inputs, int steps, int trials, int inputSize, int doneIndex)
    {
        var episode = new long[steps * trials];
        var position = new long[steps * trials];
        for (int b = 0; b < trials; b++)
            for (int t = 1; t < steps; t++)
            {
                int i = t * trials + b, previous = i - trials;
                bool done = inputs[i * inputSize + doneIndex] > 0.5f;
                episode[i] = episode[previous] + (done ? 1 : 0);
                position[i] = done ? 0 : position[previous] + 1;
            }
        return (tensor(episode, [steps, trials]), tensor(position, [steps, trials]));
    }
}
