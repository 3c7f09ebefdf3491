using System;
using Aced.Core;

namespace Aced.Models.Tests;

/// <summary>
/// Test-only SigLIP loss (Aced.Losses owns the real one): L = (1/b) sum_ij softplus(-y_ij l_ij), l_ij = exp(t) zi.zj + c,
/// y_ii = 1, else -1. Gradients: G_ij = -y_ij sigmoid(-y_ij l_ij) / b; dZi = exp(t) G Zt; dZt = exp(t) G^T Zi;
/// dt = exp(t) sum G o (Zi Zt^T); dc = sum G. Computed in double.
/// </summary>
internal static class TestSigmoidLoss
{
    public static double Compute(MatrixView zi, MatrixView zt, float t, float c, Matrix? dZi, Matrix? dZt, out double dT, out double dC)
    {
        int b = zi.Rows;
        int d = zi.Columns;
        double scale = Math.Exp(t);
        double loss = 0;
        dT = 0;
        dC = 0;
        double[] gi = new double[b * d];
        double[] gt = new double[b * d];
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < b; j++)
            {
                double dot = 0;
                for (int k = 0; k < d; k++)
                {
                    dot += (double)zi[i, k] * zt[j, k];
                }

                double l = (scale * dot) + c;
                double y = i == j ? 1 : -1;
                double m = -y * l;
                loss += Math.Max(m, 0) + Math.Log(1 + Math.Exp(-Math.Abs(m)));
                double g = -y / (1 + Math.Exp(-m)) / b;
                dT += g * scale * dot;
                dC += g;
                for (int k = 0; k < d; k++)
                {
                    gi[(i * d) + k] += g * scale * zt[j, k];
                    gt[(j * d) + k] += g * scale * zi[i, k];
                }
            }
        }

        if (dZi is not null && dZt is not null)
        {
            for (int i = 0; i < b * d; i++)
            {
                dZi.Data[i] = (float)gi[i];
                dZt.Data[i] = (float)gt[i];
            }
        }

        return loss / b;
    }
}
