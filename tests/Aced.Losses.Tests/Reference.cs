using System;
using Aced.Core;

namespace Aced.Losses.Tests;

/// <summary>Straightforward double-precision references of every objective (direct from the equations).</summary>
internal static class Reference
{
    public static double[,] Logits(double[,] img, double[,] txt, double a, double c)
    {
        int b = img.GetLength(0), d = img.GetLength(1);
        var l = new double[b, b];
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < b; j++)
            {
                double dot = 0;
                for (int k = 0; k < d; k++)
                {
                    dot += img[i, k] * txt[j, k];
                }

                l[i, j] = (a * dot) + c;
            }
        }

        return l;
    }

    public static double Softplus(double x) => Math.Max(x, 0) + Math.Log(1 + Math.Exp(-Math.Abs(x)));

    public static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    /// <summary>Sigmoid loss, image-anchored rows and text-anchored columns (Eq. 7).</summary>
    public static double SigmoidLoss(double[,] img, double[,] txt, double a, double c, double[]? rows = null, double[]? cols = null)
    {
        int b = img.GetLength(0);
        double[,] l = Logits(img, txt, a, c);
        double total = 0;
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < b; j++)
            {
                double y = i == j ? 1 : -1;
                double term = Softplus(-y * l[i, j]);
                total += term;
                if (rows != null)
                {
                    rows[i] += term;
                }

                if (cols != null)
                {
                    cols[j] += term;
                }
            }
        }

        return total / b;
    }

    private static double RowLse(double[,] l, int i)
    {
        int b = l.GetLength(1);
        double m = double.NegativeInfinity;
        for (int j = 0; j < b; j++)
        {
            m = Math.Max(m, l[i, j]);
        }

        double s = 0;
        for (int j = 0; j < b; j++)
        {
            s += Math.Exp(l[i, j] - m);
        }

        return m + Math.Log(s);
    }

    private static double[,] Transposed(double[,] x)
    {
        int r = x.GetLength(0), c = x.GetLength(1);
        var t = new double[c, r];
        for (int i = 0; i < r; i++)
        {
            for (int j = 0; j < c; j++)
            {
                t[j, i] = x[i, j];
            }
        }

        return t;
    }

    /// <summary>Softmax loss (Eq. 6) with per-example values.</summary>
    public static double SoftmaxLoss(double[,] img, double[,] txt, double a, double c, double[]? perExample = null)
    {
        int b = img.GetLength(0);
        double[,] l = Logits(img, txt, a, c);
        double[,] lt = Transposed(l);
        double total = 0;
        for (int i = 0; i < b; i++)
        {
            double v = 0.5 * ((RowLse(l, i) - l[i, i]) + (RowLse(lt, i) - l[i, i]));
            total += v;
            if (perExample != null)
            {
                perExample[i] = v;
            }
        }

        return total / b;
    }

    private static double[,] SoftmaxRows(double[,] l)
    {
        int r = l.GetLength(0), c = l.GetLength(1);
        var p = new double[r, c];
        for (int i = 0; i < r; i++)
        {
            double lse = RowLse(l, i);
            for (int j = 0; j < c; j++)
            {
                p[i, j] = Math.Exp(l[i, j] - lse);
            }
        }

        return p;
    }

    /// <summary>Softmax-KD (Eq. 13/18): returns the cross-entropy; <paramref name="entropy"/> receives the teacher entropy.</summary>
    public static double SoftmaxKd(double[,] img, double[,] txt, double a, (double[,] Img, double[,] Txt, double A)[] teachers, out double entropy, double[]? perExample = null)
    {
        int b = img.GetLength(0);
        double[,] s = Logits(img, txt, a, 0);
        double[,] logQr = SoftmaxRows(s);
        double[,] logQc = SoftmaxRows(Transposed(s));
        double ce = 0;
        entropy = 0;
        var per = new double[b];
        foreach (var t in teachers)
        {
            double[,] tl = Logits(t.Img, t.Txt, t.A, 0);
            double[,] pr = SoftmaxRows(tl);
            double[,] pc = SoftmaxRows(Transposed(tl));
            for (int i = 0; i < b; i++)
            {
                for (int j = 0; j < b; j++)
                {
                    double rowTerm = -pr[i, j] * Math.Log(logQr[i, j]);
                    double colTerm = -pc[i, j] * Math.Log(logQc[i, j]);
                    ce += rowTerm + colTerm;
                    per[i] += 0.5 * (rowTerm + colTerm) / teachers.Length;
                    entropy += -(pr[i, j] * Math.Log(pr[i, j])) - (pc[i, j] * Math.Log(pc[i, j]));
                }
            }
        }

        if (perExample != null)
        {
            Array.Copy(per, perExample, b);
        }

        entropy /= 2.0 * b * teachers.Length;
        return ce / (2.0 * b * teachers.Length);
    }

    /// <summary>Sigmoid-KD (Eq. 15 as documented) with ensembles.</summary>
    public static double SigmoidKd(double[,] img, double[,] txt, double a, double c, (double[,] Img, double[,] Txt, double A, double C)[] teachers, out double entropy, double[]? rows = null, double[]? cols = null)
    {
        int b = img.GetLength(0);
        double[,] s = Logits(img, txt, a, c);
        double ce = 0;
        entropy = 0;
        foreach (var t in teachers)
        {
            double[,] tl = Logits(t.Img, t.Txt, t.A, t.C);
            for (int i = 0; i < b; i++)
            {
                for (int j = 0; j < b; j++)
                {
                    double p = Sigmoid(tl[i, j]);
                    double term = (p * Softplus(-s[i, j])) + ((1 - p) * Softplus(s[i, j]));
                    ce += term;
                    if (rows != null)
                    {
                        rows[i] += term / teachers.Length;
                    }

                    if (cols != null)
                    {
                        cols[j] += term / teachers.Length;
                    }

                    entropy += (p * Softplus(-tl[i, j])) + ((1 - p) * Softplus(tl[i, j]));
                }
            }
        }

        entropy /= (double)b * teachers.Length;
        return ce / ((double)b * teachers.Length);
    }

    /// <summary>Feature matching (Eq. 16); <paramref name="p"/> null means identity.</summary>
    public static double FeatureMatching(double[,] img, double[,] txt, double[,] timg, double[,] ttxt, double[,]? p, double[]? perExample = null)
    {
        int b = img.GetLength(0), ds = img.GetLength(1), dt = timg.GetLength(1);
        double total = 0;
        for (int i = 0; i < b; i++)
        {
            double v = 0;
            foreach ((double[,] x, double[,] y) in new[] { (img, timg), (txt, ttxt) })
            {
                for (int q = 0; q < dt; q++)
                {
                    double proj = 0;
                    if (p is null)
                    {
                        proj = x[i, q];
                    }
                    else
                    {
                        for (int k = 0; k < ds; k++)
                        {
                            proj += x[i, k] * p[k, q];
                        }
                    }

                    double r = proj - y[i, q];
                    v += 0.5 * r * r;
                }
            }

            total += v;
            if (perExample != null)
            {
                perExample[i] = v;
            }
        }

        return total / b;
    }

    public static double[,] ToDouble(MatrixView m)
    {
        var r = new double[m.Rows, m.Columns];
        for (int i = 0; i < m.Rows; i++)
        {
            for (int j = 0; j < m.Columns; j++)
            {
                r[i, j] = m[i, j];
            }
        }

        return r;
    }

    /// <summary>Central finite difference of <paramref name="f"/> w.r.t. every element of <paramref name="x"/>.</summary>
    public static double[,] FiniteDifference(double[,] x, Func<double> f, double h = 1e-4)
    {
        var g = new double[x.GetLength(0), x.GetLength(1)];
        for (int i = 0; i < x.GetLength(0); i++)
        {
            for (int j = 0; j < x.GetLength(1); j++)
            {
                double keep = x[i, j];
                x[i, j] = keep + h;
                double up = f();
                x[i, j] = keep - h;
                double down = f();
                x[i, j] = keep;
                g[i, j] = (up - down) / (2 * h);
            }
        }

        return g;
    }

    public static double FiniteDifference(Func<double, double> f, double x, double h = 1e-5) => (f(x + h) - f(x - h)) / (2 * h);
}
