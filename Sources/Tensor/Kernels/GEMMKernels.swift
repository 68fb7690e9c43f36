import COpenBLAS

/// Single-precision GEMM through OpenBLAS: `C = alpha·op(A)·op(B) + beta·C`, row-major.
public enum GEMMKernels {
    /// The kernel family OpenBLAS runs on this processor ("Haswell", "SkylakeX", …): chosen when it loads, from the
    /// processor or from `OPENBLAS_CORETYPE`.
    public static var openBLASCore: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// - Parameters: `m`×`k` op(A), `k`×`n` op(B), `m`×`n` C; leading dimensions are row strides.
    @inline(__always)
    public static func multiply(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            for row in 0..<m {
                for column in 0..<n { c[row * ldc + column] = beta == 0 ? 0 : beta * c[row * ldc + column] }
            }
            return
        }
        _ = Parallel.threadCount
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
}
