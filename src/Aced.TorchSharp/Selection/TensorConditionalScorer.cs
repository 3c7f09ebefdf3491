using System;
using System.Collections.Generic;
using Aced.Selection;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Selection;

/// <summary>
/// The tensor counterpart of Aced.Selection's conditional scorer: for B candidates and a growing member set M it
/// keeps, per candidate x, the conditional score <c>s(M u {x}) - s(M)</c> (same formulas, see
/// <see cref="ActiveBatchSampler"/> and <see cref="Scorers"/>) in float64 B-vectors on the embeddings' device.
/// Products are taken against blocks of at most <c>blockColumns</c> members, so the largest temporary is
/// B x blockColumns (never B x B, never b x b). No tensor is copied to the host.
/// </summary>
internal sealed class TensorConditionalScorer
{
    private readonly List<ModelState> _models = new();
    private readonly TensorScoreLoss _loss;
    private readonly int _blockColumns;
    private int _members;

    /// <summary>Creates the scorer and computes the independent scores (all tensors belong to the caller's dispose scope).</summary>
    public TensorConditionalScorer(TorchSuperBatch batch, ScoringMethod scoring, TensorScoreLoss loss, int blockColumns)
    {
        _loss = loss;
        _blockColumns = Math.Max(1, blockColumns);
        (double ws, double wr) = TorchActiveBatchSampler.Weights(scoring);
        Device device = batch.Device;
        Independent = torch.zeros(batch.Count, dtype: ScalarType.Float64, device: device);
        Accumulator = torch.zeros(batch.Count, dtype: ScalarType.Float64, device: device);
        if (ws != 0 && batch.Student is not null)
        {
            _models.Add(new ModelState(batch.Student, ws));
        }

        if (wr != 0 && batch.Reference is not null)
        {
            _models.Add(new ModelState(batch.Reference, wr));
        }

        foreach (ModelState model in _models)
        {
            using var scope = torch.NewDisposeScope();
            Tensor dot = model.Embeddings.Image.mul(model.Embeddings.Text).sum(1);
            Tensor logit = dot.mul((double)model.Embeddings.Scale).add((double)model.Embeddings.Bias);
            model.Positive = logit.to_type(ScalarType.Float64).MoveToOuterDisposeScope();
            Tensor value = loss switch
            {
                TensorScoreLoss.Sigmoid => Softplus64(model.Positive.neg()),
                TensorScoreLoss.Softmax => model.Positive.neg(),
                _ => dot.to_type(ScalarType.Float64).neg(),
            };
            Independent.add_(value, model.Weight);
        }
    }

    /// <summary>The weighted independent score of every candidate (float64, B).</summary>
    public Tensor Independent { get; }

    /// <summary>Sigmoid: the member pair sums; softmax: the whole conditional score given the members.</summary>
    private Tensor Accumulator { get; }

    /// <summary>Writes nothing; returns the conditional score tensor (float64, B) of the current member set.</summary>
    public Tensor Conditional()
    {
        if (_members == 0 || _loss == TensorScoreLoss.PairSimilarity)
        {
            return Independent;
        }

        return _loss == TensorScoreLoss.Softmax ? Accumulator : Independent.add(Accumulator);
    }

    /// <summary>Adds the chosen members (an int64 index tensor on the device) and updates the sums.</summary>
    public void AddMembers(Tensor members)
    {
        long count = members.shape[0];
        if (count == 0 || _loss == TensorScoreLoss.PairSimilarity)
        {
            _members += (int)count;
            return;
        }

        foreach (ModelState model in _models)
        {
            using var scope = torch.NewDisposeScope();
            Tensor newImage = model.Embeddings.Image.index_select(0, members);
            Tensor newText = model.Embeddings.Text.index_select(0, members);
            if (_loss == TensorScoreLoss.Sigmoid)
            {
                // sum_m softplus(l_xm) (x as image against the new texts) + softplus(l_mx) (x as text).
                Accumulator.add_(SoftplusRowSums(model, model.Embeddings.Image, newText), model.Weight);
                Accumulator.add_(SoftplusRowSums(model, model.Embeddings.Text, newImage), model.Weight);
            }
            else
            {
                model.Append(newImage, newText);
            }
        }

        _members += (int)count;
        if (_loss == TensorScoreLoss.Softmax)
        {
            Accumulator.zero_();
            foreach (ModelState model in _models)
            {
                AddSoftmax(model);
            }
        }
    }

    private void AddSoftmax(ModelState model)
    {
        using var scope = torch.NewDisposeScope();
        Tensor memberImage = model.MemberImage!;
        Tensor memberText = model.MemberText!;

        // Members' own log-sum-exps over the members: R_m = LSE_j l_mj, C_m = LSE_j l_jm.
        Tensor rowLseMembers = LogSumExpRows(model, memberImage, memberText, null, out _);
        Tensor columnLseMembers = LogSumExpRows(model, memberText, memberImage, null, out _);

        // Candidates against all members, with the softplus sums shifted by the members' log-sum-exps.
        Tensor rowLse = LogSumExpRows(model, model.Embeddings.Image, memberText, columnLseMembers, out Tensor? softplusRows);
        Tensor columnLse = LogSumExpRows(model, model.Embeddings.Text, memberImage, rowLseMembers, out Tensor? softplusColumns);
        Tensor lxx = model.Positive!;
        Tensor delta = lxx.neg()
            .add(torch.logaddexp(rowLse, lxx).add(torch.logaddexp(columnLse, lxx)).mul(0.5))
            .add(softplusRows!.add(softplusColumns!).mul(0.5));
        Accumulator.add_(delta, model.Weight);
    }

    /// <summary>
    /// Row log-sum-exps of <c>a left right^T + c</c> (float64) over blocks of right's rows; with a shift, also
    /// <c>sum_j softplus(a left_i . right_j + c - shift_j)</c>.
    /// </summary>
    private Tensor LogSumExpRows(ModelState model, Tensor left, Tensor right, Tensor? shift, out Tensor? softplusSums)
    {
        long n = right.shape[0];
        Tensor lse = torch.full(left.shape[0], double.NegativeInfinity, dtype: ScalarType.Float64, device: left.device);
        softplusSums = shift is null ? null : torch.zeros(left.shape[0], dtype: ScalarType.Float64, device: left.device);
        for (long start = 0; start < n; start += _blockColumns)
        {
            long size = Math.Min(_blockColumns, n - start);
            using var scope = torch.NewDisposeScope();
            Tensor logits = Logits(model, left, right.narrow(0, start, size));
            lse.copy_(torch.logaddexp(lse, logits.to_type(ScalarType.Float64).logsumexp(1)));
            if (shift is not null)
            {
                Tensor shifted = logits.sub(shift.narrow(0, start, size).to_type(logits.dtype));
                softplusSums!.add_(torch.nn.functional.softplus(shifted).sum(1, type: ScalarType.Float64));
            }
        }

        return lse;
    }

    private Tensor SoftplusRowSums(ModelState model, Tensor left, Tensor right)
    {
        Tensor total = torch.zeros(left.shape[0], dtype: ScalarType.Float64, device: left.device);
        long n = right.shape[0];
        for (long start = 0; start < n; start += _blockColumns)
        {
            long size = Math.Min(_blockColumns, n - start);
            using var scope = torch.NewDisposeScope();
            Tensor logits = Logits(model, left, right.narrow(0, start, size));
            total.add_(torch.nn.functional.softplus(logits).sum(1, type: ScalarType.Float64));
        }

        return total;
    }

    /// <summary><c>a left right^T + c</c> in the embeddings' dtype (rows x |right|).</summary>
    private static Tensor Logits(ModelState model, Tensor left, Tensor right) =>
        left.mm(right.t()).mul_((double)model.Embeddings.Scale).add_((double)model.Embeddings.Bias);

    /// <summary><c>softplus(x) = max(x, 0) + log(1 + exp(-|x|))</c> in float64 (the managed scorer's formula).</summary>
    private static Tensor Softplus64(Tensor x) =>
        x.clamp_min(0.0).add(x.abs().neg().exp().log1p());

    private sealed class ModelState
    {
        public ModelState(TorchModelEmbeddings embeddings, double weight)
        {
            Embeddings = embeddings;
            Weight = weight;
        }

        public TorchModelEmbeddings Embeddings { get; }

        public double Weight { get; }

        /// <summary>The positive-pair logits <c>l_xx</c> (computed in the embeddings' dtype, held as float64).</summary>
        public Tensor? Positive { get; set; }

        public Tensor? MemberImage { get; private set; }

        public Tensor? MemberText { get; private set; }

        /// <summary>Appends rows to the packed members; the packed tensors move to the scope enclosing the caller's.</summary>
        public void Append(Tensor image, Tensor text)
        {
            Tensor? oldImage = MemberImage;
            Tensor? oldText = MemberText;
            MemberImage = (oldImage is null ? image.clone() : torch.cat(new[] { oldImage, image }, 0)).MoveToOuterDisposeScope();
            MemberText = (oldText is null ? text.clone() : torch.cat(new[] { oldText, text }, 0)).MoveToOuterDisposeScope();
            oldImage?.Dispose();
            oldText?.Dispose();
        }
    }
}
