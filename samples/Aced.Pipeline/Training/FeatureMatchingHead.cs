using System;
using System.IO;
using Aced.Core;
using Aced.Models;
using Aced.Models.Training;

namespace Aced.Pipeline.Training;

/// <summary>
/// Eq. 16's learnable projection head P (d_s x d_t) for feature matching when the student's embedding width differs
/// from the teacher's: initialised N(0, 1/d_s) from the initialisation seed, trained by its own AdamW (same schedule
/// and settings as the student), saved beside every checkpoint (value, both moments and the step) and restored on resume.
/// </summary>
internal sealed class FeatureMatchingHead
{
    /// <summary>Companion name: checkpoints/step-NNNNNN.fm-head.npy.</summary>
    public const string Name = "fm-head";

    private readonly AdamW _optimizer;

    public FeatureMatchingHead(int studentWidth, int teacherWidth, ulong seed)
    {
        StudentWidth = studentWidth;
        TeacherWidth = teacherWidth;
        Parameter = new Parameter("fm.projection", [studentWidth, teacherWidth], ParameterKind.Weight);
        var rng = new CounterRng(seed);
        float std = 1f / MathF.Sqrt(studentWidth);
        for (int i = 0; i < Parameter.Value.Length; i++)
        {
            Parameter.Value[i] = std * rng.NextNormal();
        }

        _optimizer = new AdamW([Parameter]);
    }

    public int StudentWidth { get; }

    public int TeacherWidth { get; }

    public Parameter Parameter { get; }

    public MatrixView Projection => Parameter.AsMatrix(StudentWidth);

    public MatrixView Gradient => Parameter.GradientAsMatrix(StudentWidth);

    public void Update(ILearningRateSchedule schedule) => _optimizer.Update(schedule);

    public static string PathOf(string checkpointPath) => Path.ChangeExtension(checkpointPath, null) + "." + Name + ".npy";

    /// <summary>Writes value, first and second moment as one (3 d_s) x d_t float32 .npy (atomically) and the step as a 1-element int64 .npy.</summary>
    public void Save(string checkpointPath)
    {
        int n = Parameter.Value.Length;
        var all = new Matrix(3 * StudentWidth, TeacherWidth);
        Parameter.Value.AsSpan().CopyTo(all.Data.AsSpan(0, n));
        _optimizer.FirstMoment(0).AsSpan().CopyTo(all.Data.AsSpan(n, n));
        _optimizer.SecondMoment(0).AsSpan().CopyTo(all.Data.AsSpan(2 * n, n));
        Npy.Write(PathOf(checkpointPath), all);
        Npy.Write(Path.ChangeExtension(PathOf(checkpointPath), ".step.npy"), [_optimizer.Step]);
    }

    public void Load(string checkpointPath)
    {
        string path = PathOf(checkpointPath);
        string stepPath = Path.ChangeExtension(path, ".step.npy");
        if (!File.Exists(path) || !File.Exists(stepPath))
        {
            throw new TrainingConfigurationException("--resume", $"the feature-matching head '{path}' is missing; the run cannot be resumed bit-identically");
        }

        Matrix all = Npy.ReadMatrix(path);
        if (all.Rows != 3 * StudentWidth || all.Columns != TeacherWidth)
        {
            throw new InvalidDataException($"{path}: holds {all.Rows}x{all.Columns} but the head is 3x{StudentWidth}x{TeacherWidth}");
        }

        int n = Parameter.Value.Length;
        all.Data.AsSpan(0, n).CopyTo(Parameter.Value);
        all.Data.AsSpan(n, n).CopyTo(_optimizer.FirstMoment(0));
        all.Data.AsSpan(2 * n, n).CopyTo(_optimizer.SecondMoment(0));
        _optimizer.RestoreStep(Npy.ReadInt64(stepPath)[0]);
    }
}
