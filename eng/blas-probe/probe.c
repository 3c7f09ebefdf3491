/*
 * probe.c - times OpenBLAS cblas_sgemm on the shapes of the Aced SGEMM benchmarks and prints GFLOP/s.
 * Not part of the Aced build: OpenBLAS is only a yardstick for the machine's FP32 peak.
 * Build and run with eng/blas-probe/run.sh (sets OPENBLAS_NUM_THREADS to 1 and 2).
 * Matrices are row-major (CblasRowMajor) like Aced; each shape is warmed up, then the best and the
 * median of `reps` timed calls are reported (2*m*n*k flops per call).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static void fill(float *x, size_t n, unsigned *state)
{
    for (size_t i = 0; i < n; i++)
    {
        *state = *state * 1664525u + 1013904223u;
        x[i] = (float)((*state >> 8) * (1.0 / 16777216.0)) - 0.5f;
    }
}

static void run(const char *name, int m, int n, int k, int transB, int reps)
{
    float *a = malloc(sizeof(float) * (size_t)m * k);
    float *b = malloc(sizeof(float) * (size_t)k * n);
    float *c = malloc(sizeof(float) * (size_t)m * n);
    unsigned state = 12345u;
    fill(a, (size_t)m * k, &state);
    fill(b, (size_t)k * n, &state);
    memset(c, 0, sizeof(float) * (size_t)m * n);
    enum CBLAS_TRANSPOSE tb = transB ? CblasTrans : CblasNoTrans;
    int ldb = transB ? k : n;
    double *t = malloc(sizeof(double) * reps);
    for (int w = 0; w < 2; w++)
    {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, m, n, k, 1.0f, a, k, b, ldb, 0.0f, c, n);
    }

    for (int r = 0; r < reps; r++)
    {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, m, n, k, 1.0f, a, k, b, ldb, 0.0f, c, n);
        t[r] = now() - t0;
    }

    qsort(t, reps, sizeof(double), cmp);
    double flops = 2.0 * m * n * k;
    printf("%-22s best %7.1f GFLOP/s  median %7.1f GFLOP/s  (median %.2f ms)\n",
        name, flops / t[0] / 1e9, flops / t[reps / 2] / 1e9, t[reps / 2] * 1e3);
    fflush(stdout);
    free(t);
    free(a);
    free(b);
    free(c);
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "all";
    int all = strcmp(which, "all") == 0;
    printf("OpenBLAS config: %s; threads=%d\n", openblas_get_config(), openblas_get_num_threads());
    if (all || strcmp(which, "1024") == 0) run("1024^3 NN", 1024, 1024, 1024, 0, 20);
    if (all || strcmp(which, "samp") == 0) run("20480x256x256 NT", 20480, 256, 256, 1, 20);
    if (all || strcmp(which, "odd") == 0) run("1023^3 NN", 1023, 1023, 1023, 0, 20);
    if (all || strcmp(which, "4096") == 0) run("4096^3 NN", 4096, 4096, 4096, 0, 3);
    return 0;
}
