using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using Aced.Core;
using Aced.Losses;
using Aced.Models;
using Aced.Models.Checkpoints;
using Aced.Models.Text;
using Aced.Models.Training;
using Aced.Pipeline.Caching;
using Aced.Pipeline.Data;
using Aced.Selection;

namespace Aced.Pipeline.Training;

/// <summary>One prepared run: every check done, every buffer allocated; <see cref="Train"/> runs the steps.</summary>
internal sealed class TrainingSession
{
    private const ulong KdStream = 0x4B44;
    private const ulong CeStream = 0x4345;
    private const ulong SelectionSeedSalt = 0x5E1EC7;
    private const ulong ProxySeedSalt = 0x9B0C;
    private const ulong OnlineReferenceSeedSalt = 0x0E1F;
    private const int LiveBlock = 256;
    internal const ulong HeadSeedSalt = 0xF3;

    private readonly TrainOptions _options;
    private readonly MethodDefinition _method;
    private readonly MethodPreset _preset;
    private readonly ITrainingObserver _observer;
    private readonly string _runDir;
    private readonly TrainingPool _pool;
    private readonly Tokenizer _tokenizer;
    private readonly TwoTowerModel _model;
    private readonly AdamW _optimizer;
    private readonly ILearningRateSchedule _schedule;
    private readonly List<TrainingRun> _references;
    private readonly List<ReferenceEmbeddings> _referenceEmbeddings;
    private readonly DataOrder _order;
    private readonly ActiveBatchSampler? _sampler;
    private readonly int _b;
    private readonly int _superBatch;
    private readonly int _trained;
    private readonly StepFlops _stepFlops;
    private readonly CombinedObjective _objective;
    private readonly CombinedObjective? _distillationOnly;
    private readonly ProxyModel? _proxy;
    private readonly ProxyModel? _onlineReference;
    private readonly FeatureMatchingHead? _head;
    private readonly long _startStep;
    private readonly double _startSeconds;
    private readonly string _fingerprint;

    // Buffers.
    private readonly int[] _superIndices;
    private readonly Matrix _superImages;
    private readonly int[] _superTokens;
    private readonly Matrix? _studentImage;
    private readonly Matrix? _studentText;
    private readonly Matrix? _referenceImage;
    private readonly Matrix? _referenceText;
    private readonly int[] _kdPositions;
    private readonly int[] _cePositions;
    private readonly SuperBatch _selectionBatch;
    private readonly int[] _uniformScratch;
    private readonly int[] _batchIndices;
    private readonly Matrix _batchImages;
    private readonly int[] _batchTokens;
    private readonly Matrix _gradImage;
    private readonly Matrix _gradText;
    private readonly Matrix[] _teacherImage;
    private readonly Matrix[] _teacherText;
    private readonly TeacherEmbeddings[] _teachers;
    private readonly TrainingPool[] _livePools;
    private readonly Matrix _liveImages;
    private readonly int[] _liveTokens;
    private readonly Matrix[] _liveImage;
    private readonly Matrix[] _liveText;

    private TrainingSession(TrainOptions options, MethodDefinition method, ITrainingObserver observer, string runDir, TrainingPool pool, Tokenizer tokenizer, TwoTowerModel model, AdamW optimizer, List<TrainingRun> references, List<ReferenceEmbeddings> referenceEmbeddings, int superBatch, long startStep, double startSeconds, string fingerprint, ProxyModel? proxy, ProxyModel? onlineReference, FeatureMatchingHead? head)
    {
        _head = head;
        _options = options;
        _method = method;
        _preset = method.Preset;
        _observer = observer;
        _runDir = runDir;
        _pool = pool;
        _tokenizer = tokenizer;
        _model = model;
        _optimizer = optimizer;
        _schedule = new RsqrtSchedule((float)options.LearningRate, options.Steps);
        _references = references;
        _referenceEmbeddings = referenceEmbeddings;
        _b = options.BatchSize;
        _superBatch = superBatch;
        _trained = _preset.EffectiveBatchSize(_b);
        _startStep = startStep;
        _startSeconds = startSeconds;
        _fingerprint = fingerprint;
        _proxy = proxy;
        _onlineReference = onlineReference;
        _order = new DataOrder(pool.Count, options.Seed);
        _sampler = CreateSampler(options, method, _b);
        StepFlops flops = ComputeAccounting.PerStep(model.Config!, _trained, superBatch, method.NeedsStudentScores, proxy?.Model.Config, _b);
        _livePools = [];
        _liveImages = new Matrix(1, 1);
        _liveTokens = [];
        _liveImage = [];
        _liveText = [];
        if (options.ReferenceMode == ReferenceMode.Live)
        {
            // Each reference reads the pool through its own tokenizer; its embeddings of the super-batch are written
            // into pool-sized matrices at the examples' rows, so selection and distillation read them as from a cache.
            _livePools = new TrainingPool[references.Count];
            _liveImage = new Matrix[references.Count];
            _liveText = new Matrix[references.Count];
            int maxContext = 1;
            double referenceFlops = 0;
            for (int k = 0; k < references.Count; k++)
            {
                TwoTowerConfig config = references[k].Model.Config!;
                _livePools[k] = new TrainingPool(pool.Dataset, references[k].Tokenizer, config.Text.ContextLength);
                maxContext = Math.Max(maxContext, config.Text.ContextLength);
                _liveImage[k] = new Matrix(superBatch, references[k].Model.EmbeddingDimension);
                _liveText[k] = new Matrix(superBatch, references[k].Model.EmbeddingDimension);
                referenceFlops += ComputeAccounting.PairForwardFlops(config) * superBatch;
            }

            _liveImages = new Matrix(superBatch, pool.Images.Columns);
            _liveTokens = new int[superBatch * maxContext];
            flops = flops with { Reference = referenceFlops };
        }

        _stepFlops = flops;
        (_objective, _distillationOnly) = CreateObjectives(options, method);

        int d = model.EmbeddingDimension;
        int t = options.ContextLength;
        _superIndices = new int[superBatch];
        _superImages = new Matrix(superBatch, pool.Images.Columns);
        _superTokens = new int[superBatch * t];
        if (method.NeedsStudentScores)
        {
            _studentImage = new Matrix(superBatch, d);
            _studentText = new Matrix(superBatch, d);
        }

        if (_sampler is not null && referenceEmbeddings.Count > 0 && method.Preset.NeedsReferenceEmbeddings)
        {
            _referenceImage = new Matrix(superBatch, referenceEmbeddings[0].Image.Columns);
            _referenceText = new Matrix(superBatch, referenceEmbeddings[0].Text.Columns);
        }

        _kdPositions = new int[_b];
        _cePositions = new int[_b];
        _selectionBatch = SuperBatch.OfSize(superBatch);
        _uniformScratch = new int[superBatch];
        _batchIndices = new int[_trained];
        _batchImages = new Matrix(_trained, pool.Images.Columns);
        _batchTokens = new int[_trained * t];
        _gradImage = new Matrix(_trained, d);
        _gradText = new Matrix(_trained, d);
        int teachers = method.Distils ? referenceEmbeddings.Count : 0;
        _teacherImage = new Matrix[teachers];
        _teacherText = new Matrix[teachers];
        _teachers = new TeacherEmbeddings[teachers];
        for (int k = 0; k < teachers; k++)
        {
            _teacherImage[k] = new Matrix(_b, referenceEmbeddings[k].Image.Columns);
            _teacherText[k] = new Matrix(_b, referenceEmbeddings[k].Text.Columns);
        }
    }

    /// <summary>Every check and every one-off cost (tokenizer, reference caches) before the first step; writes config.json for a new run.</summary>
    public static TrainingSession Prepare(TrainOptions options, DatasetSplits data, ITrainingObserver observer, CancellationToken cancellationToken)
    {
        MethodDefinition method = options.Role == TrainingRole.Reference ? TrainingMethods.Get("iid") : TrainingMethods.Get(options.Method);
        ImageTextDataset dataset = options.Role == TrainingRole.Reference ? (options.Holdout ? data.Holdout : data.ReferenceTrain) : data.StudentTrain;
        if (dataset.Count == 0)
        {
            throw new TrainingConfigurationException("--dataset", $"the split '{dataset.Name}' of {options.Dataset} is empty");
        }

        string runDir = Path.GetFullPath(options.OutDir);
        double f = ResolveFilterRatio(options, method);
        // Every method draws B = b / (1 - f) per step (the preset's f unless overridden), so all see the same data.
        int superBatch = options.FilterRatio is null ? method.Preset.SuperBatchSize(options.BatchSize) : (int)Math.Round(options.BatchSize / (1 - f));
        if (superBatch > dataset.Count)
        {
            throw new TrainingConfigurationException("--batch-size", $"the super-batch B = {superBatch} (b = {options.BatchSize}, f = {f.ToString(CultureInfo.InvariantCulture)}) exceeds the {dataset.Count} examples of '{dataset.Name}'; use a smaller --batch-size or --filter-ratio");
        }

        int patch = options.PatchSize > 0 ? options.PatchSize : dataset.ImageSize / 4;
        if (patch < 1 || dataset.ImageSize % patch != 0)
        {
            throw new TrainingConfigurationException("--patch-size", $"{patch} does not tile the {dataset.ImageSize}x{dataset.ImageSize} images of '{dataset.Name}'; give a divisor of {dataset.ImageSize}");
        }

        // The run directory: a new run must not overwrite one; a resumed one must match it.
        long startStep = 0;
        double startSeconds = 0;
        string? resumeCheckpoint = null;
        if (options.Resume)
        {
            (TrainOptions saved, _) = TrainingRun.ReadConfig(runDir, "--resume");
            List<string> differ = TrainingRun.DifferingOptions(saved, options);
            if (differ.Count > 0)
            {
                throw new TrainingConfigurationException("--resume", $"the options differ from the run in '{options.OutDir}': {string.Join("; ", differ)}; repeat the original command with --resume");
            }

            if (File.Exists(Path.Combine(runDir, RunFiles.FinalCheckpoint)))
            {
                throw new TrainingConfigurationException("--resume", $"the run in '{options.OutDir}' already finished ({RunFiles.FinalCheckpoint} exists); nothing to resume");
            }

            (resumeCheckpoint, startStep) = TrainingRun.LastPeriodicCheckpoint(runDir);
            if (resumeCheckpoint is null)
            {
                throw new TrainingConfigurationException("--resume", $"'{options.OutDir}' has no checkpoints/step-*.ckpt to resume from; start it again without --resume in an empty --out");
            }

            startSeconds = ReadSeconds(RunFiles.StatePath(resumeCheckpoint));
        }
        else if (File.Exists(Path.Combine(runDir, RunFiles.Config)))
        {
            throw new TrainingConfigurationException("--out", $"'{options.OutDir}' already holds a run; pass --resume to continue it or choose another --out");
        }

        // References: loaded and checked before anything is written.
        var references = new List<TrainingRun>();
        foreach (string dir in options.ReferenceDirs)
        {
            TrainingRun reference = TrainingRun.Load(dir, "--reference");
            CheckReference(options, method, dataset, reference);
            references.Add(reference);
        }

        // Tokenizer and model: fresh, or from the checkpoint being resumed.
        Tokenizer tokenizer;
        TwoTowerModel model;
        AdamW optimizer;
        if (resumeCheckpoint is not null)
        {
            (model, tokenizer, long step) = TrainingRun.LoadModel(resumeCheckpoint);
            optimizer = new AdamW(model.Parameters);
            Checkpoint.Load(resumeCheckpoint, model, optimizer);
            if (step != startStep)
            {
                throw new InvalidDataException($"{resumeCheckpoint}: holds step {step} but its name says {startStep}");
            }
        }
        else
        {
            tokenizer = BpeTokenizer.Train(dataset.Captions, options.VocabularySize);
            TwoTowerConfig config = ModelConfig(options, options.ResolvedSize, tokenizer.VocabularySize, dataset.ImageSize, patch);
            model = new TwoTowerModel(config, options.ResolvedInitSeed);
            InitialiseBias(model, options, options.BatchSize);
            optimizer = new AdamW(model.Parameters);
        }

        var pool = new TrainingPool(dataset, tokenizer, options.ContextLength);
        string fingerprint = dataset.Fingerprint;
        var embeddings = new List<ReferenceEmbeddings>();
        foreach (TrainingRun reference in references)
        {
            if (options.ReferenceMode == ReferenceMode.Live)
            {
                int width = reference.Model.EmbeddingDimension;
                embeddings.Add(new ReferenceEmbeddings(new Matrix(dataset.Count, width), new Matrix(dataset.Count, width), reference.Model.Logits, "live", Reused: false, Flops: 0));
                continue;
            }

            ReferenceEmbeddings cached = ReferenceCache.GetOrCompute(reference, dataset, fingerprint, cancellationToken);
            observer.OnMessage(cached.Reused
                ? $"reference embeddings reused from {cached.Directory}"
                : $"reference embeddings of {dataset.Count} examples computed once and cached in {cached.Directory}");
            embeddings.Add(cached);
        }

        ProxyModel? proxy = null, onlineReference = null;
        if (method.UsesOnlineProxies)
        {
            TwoTowerConfig proxyConfig = ModelConfig(options, options.ProxySize, tokenizer.VocabularySize, dataset.ImageSize, patch);
            proxy = new ProxyModel("proxy", proxyConfig, Derive(options.ResolvedInitSeed, ProxySeedSalt), (float)options.LearningRate, options.Steps);
            onlineReference = new ProxyModel("online-reference", proxyConfig, Derive(options.ResolvedInitSeed, OnlineReferenceSeedSalt), 2f * (float)options.LearningRate, options.Steps);
            InitialiseBias(proxy.Model, options, options.BatchSize);
            InitialiseBias(onlineReference.Model, options, superBatch);
            if (resumeCheckpoint is not null)
            {
                proxy.Load(RunFiles.CompanionPath(resumeCheckpoint, proxy.Name));
                onlineReference.Load(RunFiles.CompanionPath(resumeCheckpoint, onlineReference.Name));
            }
        }

        // Eq. 16: a learnable head when the student's width differs from the teachers'.
        FeatureMatchingHead? head = null;
        if (method.FeatureShare > 0 && references.Count > 0 && references[0].Model.EmbeddingDimension != model.EmbeddingDimension)
        {
            head = new FeatureMatchingHead(model.EmbeddingDimension, references[0].Model.EmbeddingDimension, Derive(options.ResolvedInitSeed, HeadSeedSalt));
            if (resumeCheckpoint is not null)
            {
                head.Load(resumeCheckpoint);
            }
        }

        var session = new TrainingSession(options, method, observer, runDir, pool, tokenizer, model, optimizer, references, embeddings, superBatch, startStep, startSeconds, fingerprint, proxy, onlineReference, head);
        if (resumeCheckpoint is null)
        {
            Directory.CreateDirectory(runDir);
            RunFiles.WriteAllText(Path.Combine(runDir, RunFiles.Config), session.ConfigJson(dataset, f));
            RunFiles.WriteAllText(Path.Combine(runDir, RunFiles.Metrics), string.Empty);
        }
        else
        {
            TruncateMetrics(Path.Combine(runDir, RunFiles.Metrics), startStep);
            observer.OnMessage($"resuming from {resumeCheckpoint} (step {startStep})");
        }

        return session;
    }

    public TrainResult Train(CancellationToken cancellationToken)
    {
        string metricsPath = Path.Combine(_runDir, RunFiles.Metrics);
        _observer.OnStart(new TrainingStart(_runDir, Describe(), _startStep, _options.Steps, _b, _superBatch, _stepFlops));
        long step = _startStep;
        double lastLoss = double.NaN;
        long started = Stopwatch.GetTimestamp();
        string? lastCheckpoint = null;
        using (var metrics = new StreamWriter(new FileStream(metricsPath, FileMode.Append, FileAccess.Write, FileShare.Read), new UTF8Encoding(false)))
        {
            while (step < _options.Steps)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    break;
                }

                (double loss, double contrastive, double distillation, float lr, double corrupted) = TrainStep(step);
                step++;
                lastLoss = loss;
                double runSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                var m = new StepMetrics(step, _options.Steps, loss, contrastive, distillation, step * (long)_trained, step * _stepFlops.Total, _startSeconds + runSeconds, lr, _model.Scale, _model.Bias.Value[0], corrupted, (step - _startStep) * _trained / Math.Max(runSeconds, 1e-9));
                metrics.WriteLine(MetricsLine(m));
                metrics.Flush();
                _observer.OnStep(m);
                if (_options.CheckpointEvery > 0 && step % _options.CheckpointEvery == 0 && step < _options.Steps)
                {
                    lastCheckpoint = SaveCheckpoint(RunFiles.CheckpointPath(_runDir, step), step, _startSeconds + runSeconds);
                }
            }
        }

        double seconds = _startSeconds + Stopwatch.GetElapsedTime(started).TotalSeconds;
        bool completed = step >= _options.Steps;
        string checkpoint;
        if (completed)
        {
            checkpoint = SaveCheckpoint(Path.Combine(_runDir, RunFiles.FinalCheckpoint), step, seconds);
        }
        else
        {
            string path = RunFiles.CheckpointPath(_runDir, step);
            checkpoint = lastCheckpoint == path ? path : SaveCheckpoint(path, step, seconds);
            _observer.OnMessage($"stopped after step {step}; checkpoint {checkpoint} (continue with --resume)");
        }

        double cacheFlops = 0;
        var caches = new List<string>();
        foreach (ReferenceEmbeddings e in _referenceEmbeddings)
        {
            if (_options.ReferenceMode == ReferenceMode.Cached)
            {
                cacheFlops += e.Flops;
                caches.Add(e.Directory);
            }
        }

        var result = new TrainResult(_runDir, completed, step, lastLoss, step * (long)_trained, step * _stepFlops.Total, cacheFlops, seconds, checkpoint, Path.Combine(_runDir, RunFiles.Config), metricsPath, caches);
        if (completed)
        {
            RunFiles.WriteAllText(Path.Combine(_runDir, RunFiles.FinalSummary), JsonSerializer.Serialize(result, TrainingRun.s_json));
        }

        return result;
    }

    private (double Loss, double Contrastive, double Distillation, float LearningRate, double Corrupted) TrainStep(long step)
    {
        int b = _b;
        int t = _options.ContextLength;
        _order.Fill(step, _superIndices);
        EncodeLiveReferences();
        ReadOnlySpan<int> cePositions;
        bool needSuperInputs = _method.NeedsStudentScores || _proxy is not null;
        if (needSuperInputs)
        {
            _pool.Gather(_superIndices, _superImages, _superTokens);
        }

        if (_sampler is not null)
        {
            SuperBatch superBatch = BuildSuperBatch();
            SelectionResult selection = _sampler.Sample(superBatch, step);
            cePositions = selection.Indices;
        }
        else
        {
            var rng = new CounterRng(Derive(_options.Seed, CeStream), unchecked((ulong)step));
            Sampling.UniformWithoutReplacement(_superBatch, b, ref rng, _cePositions, _uniformScratch);
            cePositions = _cePositions;
        }

        for (int i = 0; i < b; i++)
        {
            _batchIndices[i] = _superIndices[cePositions[i]];
        }

        ReadOnlySpan<int> kdIndices = default;
        switch (_preset.DistillationBatch)
        {
            case BatchSource.SameAsContrastive:
                kdIndices = _batchIndices.AsSpan(0, b);
                break;
            case BatchSource.Uniform:
                var rng = new CounterRng(Derive(_options.Seed, KdStream), unchecked((ulong)step));
                Sampling.UniformWithoutReplacement(_superBatch, b, ref rng, _kdPositions, _uniformScratch);
                for (int i = 0; i < b; i++)
                {
                    _batchIndices[b + i] = _superIndices[_kdPositions[i]];
                }

                kdIndices = _batchIndices.AsSpan(b, b);
                break;
        }

        int corrupted = 0;
        for (int i = 0; i < b; i++)
        {
            corrupted += _pool.Dataset.CaptionCorrupted[_batchIndices[i]] ? 1 : 0;
        }

        for (int k = 0; k < _teachers.Length; k++)
        {
            RowGather.Gather(_referenceEmbeddings[k].Image, kdIndices, _teacherImage[k]);
            RowGather.Gather(_referenceEmbeddings[k].Text, kdIndices, _teacherText[k]);
            _teachers[k] = new TeacherEmbeddings(_teacherImage[k], _teacherText[k], _referenceEmbeddings[k].Logits);
        }

        _pool.Gather(_batchIndices, _batchImages, _batchTokens);
        _model.ZeroGradients();
        (MatrixView zi, MatrixView zt) = _model.Forward(_batchImages, _batchTokens);
        LogitParameters logits = _model.Logits;
        double loss, contrastive, distillation;
        LogitGradients logitGradients;
        if (_distillationOnly is null)
        {
            CombinedResult r = _objective.Compute(zi, zt, logits, _teachers, _head?.Projection ?? default, new EmbeddingGradients(_gradImage, _gradText), _head?.Gradient ?? default);
            loss = r.Total;
            contrastive = r.Contrastive;
            distillation = r.SoftmaxDistillation + r.SigmoidDistillation + r.FeatureMatching;
            logitGradients = r.LogitGradients;
        }
        else
        {
            CombinedResult ce = _objective.Compute(zi.RowRange(0, b), zt.RowRange(0, b), logits, ReadOnlySpan<TeacherEmbeddings>.Empty, default, new EmbeddingGradients(_gradImage.RowRange(0, b), _gradText.RowRange(0, b)));
            CombinedResult kd = _distillationOnly.Compute(zi.RowRange(b, b), zt.RowRange(b, b), logits, _teachers, _head?.Projection ?? default, new EmbeddingGradients(_gradImage.RowRange(b, b), _gradText.RowRange(b, b)), _head?.Gradient ?? default);
            loss = ce.Total + kd.Total;
            contrastive = ce.Contrastive;
            distillation = kd.SoftmaxDistillation + kd.SigmoidDistillation + kd.FeatureMatching;
            logitGradients = ce.LogitGradients + kd.LogitGradients;
        }

        _model.Backward(_gradImage, _gradText, logitGradients);
        float lr = _optimizer.Update(_schedule);
        _head?.Update(_schedule);
        _model.ClampLogScale();

        if (_proxy is not null && _onlineReference is not null)
        {
            // Bad-Students: the online proxy learns on the chosen batch, the online reference on the whole super-batch (2x lr).
            _proxy.TrainStep(_batchImages.RowRange(0, b), _batchTokens.AsSpan(0, b * t), _options.Loss);
            _onlineReference.TrainStep(_superImages, _superTokens, _options.Loss);
        }

        return (loss, contrastive, distillation, lr, (double)corrupted / b);
    }

    /// <summary>Live reference mode: every reference embeds this step's super-batch (B rows) into its pool-row matrices.</summary>
    private void EncodeLiveReferences()
    {
        for (int k = 0; k < _livePools.Length; k++)
        {
            TrainingPool refPool = _livePools[k];
            TwoTowerModel reference = _references[k].Model;
            int n = _superIndices.Length;
            int context = refPool.ContextLength;
            refPool.Gather(_superIndices, _liveImages, _liveTokens.AsSpan(0, n * context));
            ReferenceEmbeddings target = _referenceEmbeddings[k];
            reference.EncodeImages(_liveImages, _liveImage[k], LiveBlock);
            reference.EncodeTexts(_liveTokens.AsSpan(0, n * context), _liveText[k], LiveBlock);
            ScatterRows(_liveImage[k], _superIndices, target.Image);
            ScatterRows(_liveText[k], _superIndices, target.Text);
        }
    }

    /// <summary>destination[indices[i]] = source[i] for every row i.</summary>
    private static void ScatterRows(Matrix source, ReadOnlySpan<int> indices, Matrix destination)
    {
        for (int i = 0; i < indices.Length; i++)
        {
            source.Row(i).CopyTo(destination.Row(indices[i]));
        }
    }

    private SuperBatch BuildSuperBatch()
    {
        ModelEmbeddings student = default, reference = default;
        if (_proxy is not null && _onlineReference is not null)
        {
            _selectionBatch.Update(_proxy.Encode(_superImages, _superTokens), _onlineReference.Encode(_superImages, _superTokens));
            return _selectionBatch;
        }

        if (_studentImage is not null && _studentText is not null)
        {
            _model.EncodeImages(_superImages, _studentImage, 256);
            _model.EncodeTexts(_superTokens, _studentText, 256);
            student = new ModelEmbeddings(_studentImage, _studentText, _model.Logits);
        }

        if (_referenceImage is not null && _referenceText is not null)
        {
            ReferenceEmbeddings cache = _referenceEmbeddings[0];
            RowGather.Gather(cache.Image, _superIndices, _referenceImage);
            RowGather.Gather(cache.Text, _superIndices, _referenceText);
            reference = new ModelEmbeddings(_referenceImage, _referenceText, cache.Logits);
        }

        _selectionBatch.Update(student, reference);
        return _selectionBatch;
    }

    private string SaveCheckpoint(string path, long step, double seconds)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        _proxy?.Save(RunFiles.CompanionPath(path, _proxy.Name), step, _tokenizer);
        _onlineReference?.Save(RunFiles.CompanionPath(path, _onlineReference.Name), step, _tokenizer);
        _head?.Save(path);
        RunFiles.WriteAllText(RunFiles.StatePath(path), new JsonObject { ["step"] = step, ["seconds"] = seconds }.ToJsonString());
        Checkpoint.Save(path, _model, _optimizer, step, rng: null, _tokenizer);
        _observer.OnMessage($"checkpoint {path}");
        return path;
    }

    private static double ReadSeconds(string statePath)
    {
        if (!File.Exists(statePath))
        {
            return 0;
        }

        try
        {
            return JsonNode.Parse(File.ReadAllText(statePath))?["seconds"]?.GetValue<double>() ?? 0;
        }
        catch (JsonException)
        {
            return 0;
        }
    }

    private static void TruncateMetrics(string path, long step)
    {
        var kept = new StringBuilder();
        if (File.Exists(path))
        {
            foreach (string line in File.ReadAllLines(path))
            {
                try
                {
                    long s = JsonNode.Parse(line)?["step"]?.GetValue<long>() ?? long.MaxValue;
                    if (s <= step)
                    {
                        kept.Append(line).Append('\n');
                    }
                }
                catch (JsonException)
                {
                    // A line cut by a kill: dropped; its step is recomputed.
                }
            }
        }

        RunFiles.WriteAllText(path, kept.ToString());
    }

    internal static string MetricsLine(StepMetrics m)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("step", m.Step);
            w.WriteNumber("loss", m.Loss);
            w.WriteNumber("contrastive", m.Contrastive);
            w.WriteNumber("distillation", m.Distillation);
            w.WriteNumber("samples_seen", m.SamplesSeen);
            w.WriteNumber("flops", m.Flops);
            w.WriteNumber("seconds", m.Seconds);
            w.WriteNumber("lr", m.LearningRate);
            w.WriteNumber("scale", m.Scale);
            w.WriteNumber("bias", m.Bias);
            w.WriteNumber("corrupted_fraction", m.CorruptedFraction);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private string ConfigJson(ImageTextDataset dataset, double f)
    {
        var references = new JsonArray();
        for (int k = 0; k < _references.Count; k++)
        {
            references.Add(new JsonObject
            {
                ["dir"] = _references[k].RunDirectory,
                ["checkpoint"] = _references[k].CheckpointPath,
                ["model_hash"] = RunFiles.HashFile(_references[k].CheckpointPath),
                ["cache"] = _referenceEmbeddings[k].Directory,
            });
        }

        var config = new JsonObject
        {
            ["format"] = "aced-train-run",
            ["version"] = 1,
            ["options"] = JsonSerializer.SerializeToNode(_options with { Resume = false }, TrainingRun.s_json),
            ["method"] = _method.Name,
            ["preset"] = _preset.ToString(),
            ["size"] = _options.ResolvedSize,
            ["model"] = JsonSerializer.SerializeToNode(_model.Config, TrainingRun.s_json),
            ["parameters"] = _model.Config!.Image.ParameterCount() + _model.Config.Text.ParameterCount() + 2,
            ["dataset"] = new JsonObject
            {
                ["spec"] = _options.Dataset,
                ["split"] = dataset.Name,
                ["count"] = dataset.Count,
                ["image_size"] = dataset.ImageSize,
                ["fingerprint"] = _fingerprint,
            },
            ["tokenizer_hash"] = RunFiles.HashText(_tokenizer.ToJson()),
            ["vocabulary_size"] = _tokenizer.VocabularySize,
            ["batch_size"] = _b,
            ["super_batch_size"] = _superBatch,
            ["filter_ratio"] = f,
            ["trained_examples_per_step"] = _trained,
            ["flops_per_step"] = new JsonObject
            {
                ["training"] = _stepFlops.Training,
                ["scoring"] = _stepFlops.Scoring,
                ["reference"] = _stepFlops.Reference,
                ["proxies"] = _stepFlops.Proxies,
                ["total"] = _stepFlops.Total,
            },
            ["pair_forward_flops"] = ComputeAccounting.PairForwardFlops(_model.Config),
            ["references"] = references,
        };
        return config.ToJsonString(TrainingRun.s_json);
    }

    private string Describe() =>
        _options.Role == TrainingRole.Reference
            ? $"reference {_options.ResolvedSize} on {_pool.Dataset.Name} ({_pool.Count} examples), b={_b}"
            : $"student {_method.Name} ({_preset.Name}) {_options.ResolvedSize} on {_pool.Dataset.Name} ({_pool.Count} examples), b={_b}, B={_superBatch}";

    private static double ResolveFilterRatio(TrainOptions options, MethodDefinition method)
    {
        if (options.FilterRatio is double f)
        {
            return f;
        }

        return method.Preset.Selection?.FilterRatio ?? ActiveBatchSamplerOptions.DefaultFilterRatio;
    }

    private static ActiveBatchSampler? CreateSampler(TrainOptions options, MethodDefinition method, int b)
    {
        ActiveBatchSamplerOptions? selection = method.Preset.Selection;
        if (selection is null)
        {
            return null;
        }

        selection.BatchSize = b;
        selection.Seed = Derive(options.Seed, SelectionSeedSalt);
        selection.Chunks = Math.Min(options.Chunks ?? selection.Chunks, b);
        if (options.Temperature is double tau)
        {
            selection.Temperature = tau;
        }

        selection.Loss = options.Loss;

        return new ActiveBatchSampler(selection);
    }

    private static (CombinedObjective Main, CombinedObjective? DistillationOnly) CreateObjectives(TrainOptions options, MethodDefinition method)
    {
        ContrastiveKind contrastive = options.Loss;
        float lambda = method.Distils ? (float)(options.Lambda ?? method.Preset.Lambda) : 0f;
        CombinedObjectiveOptions Weights(ContrastiveKind? kind) => new()
        {
            Contrastive = kind,
            Ensemble = options.Ensemble,
            SoftmaxDistillationWeight = lambda * method.SoftmaxShare,
            SigmoidDistillationWeight = lambda * method.SigmoidShare,
            FeatureMatchingWeight = lambda * method.FeatureShare,
        };

        if (method.Preset.DistillationBatch == BatchSource.Uniform || method.Preset.DistillationBatch == BatchSource.Selected)
        {
            return (new CombinedObjective(new CombinedObjectiveOptions { Contrastive = contrastive }), new CombinedObjective(Weights(null)));
        }

        return (new CombinedObjective(Weights(contrastive)), null);
    }

    internal static TwoTowerConfig ModelConfig(TrainOptions options, string size, int vocabulary, int imageSize, int patch) =>
        TwoTowerConfig.Preset(ModelSizes.Parse(size), vocabulary, options.ContextLength, imageSize, patch, options.EmbeddingDimension) with
        {
            Kind = options.Loss,
        };

    private static void CheckReference(TrainOptions options, MethodDefinition method, ImageTextDataset dataset, TrainingRun reference)
    {
        if (reference.Options.Role != TrainingRole.Reference)
        {
            throw new TrainingConfigurationException("--reference", $"'{reference.RunDirectory}' is a student run ({reference.Options.Method}); pass a run trained with --role reference");
        }

        if (method.Preset.NeedsHoldoutReference && !reference.Options.Holdout)
        {
            throw new TrainingConfigurationException("--reference", $"{method.Name} needs a reference trained on the held-out split; train one with `aced train --role reference --holdout` (the one in '{reference.RunDirectory}' was not)");
        }

        TwoTowerConfig config = reference.Model.Config!;
        if (config.Image.ImageSize != dataset.ImageSize)
        {
            throw new TrainingConfigurationException("--reference", $"the reference in '{reference.RunDirectory}' takes {config.Image.ImageSize}x{config.Image.ImageSize} images but '{dataset.Name}' has {dataset.ImageSize}x{dataset.ImageSize}; train the reference on the same data set");
        }

        if (method.FeatureShare > 0 && options.ReferenceDirs.Count > 1 && reference.Model.EmbeddingDimension != TrainingRun.Load(options.ReferenceDirs[0], "--reference").Model.EmbeddingDimension)
        {
            throw new TrainingConfigurationException("--reference", $"feature matching projects the student onto one teacher width; the teachers differ in width ('{reference.RunDirectory}' has {reference.Model.EmbeddingDimension}); use teachers of one width");
        }
    }

    /// <summary>A fresh sigmoid model's logit bias: the option, or the prior of its training batch (<see cref="TrainOptions.PriorBias"/>).</summary>
    internal static void InitialiseBias(TwoTowerModel model, TrainOptions options, int batchSize)
    {
        if (options.Loss == ContrastiveKind.Sigmoid)
        {
            model.Bias.Value[0] = (float)(options.InitialBias ?? TrainOptions.PriorBias(batchSize));
        }
    }

    internal static ulong Derive(ulong seed, ulong salt) => unchecked((seed * 0x9E3779B97F4A7C15UL) ^ (salt * 0xBF58476D1CE4E5B9UL) ^ salt);

    /// <summary>A small model trained online beside the student (Bad-Students' proxy learner and online reference).</summary>
    private sealed class ProxyModel
    {
        private readonly AdamW _optimizer;
        private readonly ILearningRateSchedule _schedule;
        private readonly CombinedObjective _sigmoid = new(new CombinedObjectiveOptions { Contrastive = ContrastiveKind.Sigmoid });
        private readonly CombinedObjective _softmax = new(new CombinedObjectiveOptions { Contrastive = ContrastiveKind.Softmax });
        private Matrix _image = new(1, 1);
        private Matrix _text = new(1, 1);
        private Matrix _gradImage = new(1, 1);
        private Matrix _gradText = new(1, 1);

        public ProxyModel(string name, TwoTowerConfig config, ulong seed, float learningRate, int steps)
        {
            Name = name;
            Model = new TwoTowerModel(config, seed);
            _optimizer = new AdamW(Model.Parameters);
            _schedule = new RsqrtSchedule(learningRate, steps);
        }

        public string Name { get; }

        public TwoTowerModel Model { get; }

        public ModelEmbeddings Encode(Matrix images, int[] tokens)
        {
            int n = images.Rows;
            if (_image.Rows != n)
            {
                _image = new Matrix(n, Model.EmbeddingDimension);
                _text = new Matrix(n, Model.EmbeddingDimension);
            }

            Model.EncodeImages(images, _image, 256);
            Model.EncodeTexts(tokens, _text, 256);
            return new ModelEmbeddings(_image, _text, Model.Logits);
        }

        public void TrainStep(MatrixView images, ReadOnlySpan<int> tokens, ContrastiveKind loss)
        {
            int n = images.Rows;
            if (_gradImage.Rows != n)
            {
                _gradImage = new Matrix(n, Model.EmbeddingDimension);
                _gradText = new Matrix(n, Model.EmbeddingDimension);
            }

            Model.ZeroGradients();
            (MatrixView zi, MatrixView zt) = Model.Forward(images, tokens);
            CombinedObjective objective = loss == ContrastiveKind.Softmax ? _softmax : _sigmoid;
            CombinedResult r = objective.Compute(zi, zt, Model.Logits, ReadOnlySpan<TeacherEmbeddings>.Empty, default, new EmbeddingGradients(_gradImage, _gradText));
            Model.Backward(_gradImage, _gradText, r.LogitGradients);
            _optimizer.Update(_schedule);
            Model.ClampLogScale();
        }

        public void Save(string path, long step, Tokenizer tokenizer) => Checkpoint.Save(path, Model, _optimizer, step, rng: null, tokenizer);

        public void Load(string path)
        {
            if (!File.Exists(path))
            {
                throw new TrainingConfigurationException("--resume", $"the Bad-Students companion checkpoint '{path}' is missing; the run cannot be resumed bit-identically");
            }

            Checkpoint.Load(path, Model, _optimizer);
        }
    }
}
