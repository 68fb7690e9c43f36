import Foundation

/// F(4×4, 3×3): each 4×4 output tile costs 36 multiplies per channel pair instead of 144 (4× fewer; 1.78× fewer than
/// F(2×2, 3×3)), with the interpolation points 0, ±1, ±2, ∞ (Lavin & Gray's matrices):
///
///     Bᵀ = [4  0 −5  0  1  0]    G = [ 1/4     0     0]    Aᵀ = [1  1  1  1  1  0]
///          [0 −4 −4  1  1  0]        [−1/6  −1/6  −1/6]         [0  1 −1  2 −2  0]
///          [0  4 −4 −1  1  0]        [−1/6   1/6  −1/6]         [0  1  1  4  4  0]
///          [0 −2 −1  2  1  0]        [1/24  1/12   1/6]         [0  1 −1  8 −8  1]
///          [0  2 −1 −2  1  0]        [1/24 −1/12   1/6]
///          [0  4  0 −5  0  1]        [   0     0     1]
///
/// Forward passes and input gradients of convolutions with many channels on large enough planes (where the larger
/// transforms are paid back); tested against direct loops in double and against the GEMM lowering.
struct WinogradF4x3: WinogradConvolution {
    static let tile = 4
    let geometry: ConvolutionGeometry
    let tileRows: Int
    let tileColumns: Int
    let chunkTiles: Int

    /// Stride 1, 3×3, no dilation, one group, ≥ 64 channels each way and an output of at least 48×48 pixels (8 each
    /// way): on smaller planes the weight transform costs more than the multiplies saved (`stylize bench`: 256→256
    /// at 64² 1.2–1.7× faster than F(2×2, 3×3), at 32² 1.0–1.3× slower).
    static func applies(to geometry: ConvolutionGeometry) -> Bool {
        WinogradF2x3.applies(to: geometry) && geometry.inputChannels >= 64 && geometry.outputChannels >= 64
            && geometry.outputHeight >= 8 && geometry.outputWidth >= 8 && geometry.outputPlane >= 48 * 48
    }

    /// The input gradient's transposed forward geometry qualifies too.
    static func appliesToBackwardInput(_ geometry: ConvolutionGeometry) -> Bool {
        applies(to: geometry) && geometry.padding <= 2 && geometry.inputHeight >= 8 && geometry.inputWidth >= 8
            && geometry.inputPlane >= 48 * 48
    }

    init(_ geometry: ConvolutionGeometry) {
        self.geometry = geometry
        (tileRows, tileColumns, chunkTiles) = Self.tiling(geometry)
    }

    /// The six rows of Bᵀ·d (or Bᵀ applied to any six values).
    @inline(__always)
    static func inputRows(_ d0: SIMD8<Float>, _ d1: SIMD8<Float>, _ d2: SIMD8<Float>, _ d3: SIMD8<Float>, _ d4: SIMD8<Float>,
                          _ d5: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let a = d4 - 4 * d2, b = d3 - 4 * d1, c = d4 - d2, e = 2 * (d3 - d1)
        return (4 * d0 - 5 * d2 + d4, a + b, a - b, c + e, c - e, 4 * d1 - 5 * d3 + d5)
    }

    /// U[ξ][Cout][Cin] = (G·g·Gᵀ)[ξ] for every (output, input) channel pair.
    func transformedWeight(_ weight: UnsafePointer<Float>) -> UnsafeMutablePointer<Float> {
        let pairs = geometry.outputChannels * geometry.inputChannels
        let planeStride = pairs + Self.planePadding
        let result = UnsafeMutablePointer<Float>.allocate(capacity: 36 * planeStride)
        Parallel.forEachRange(pairs, minimumPerWorker: 2048) { range in
            for pair in range {
                let g = weight + pair * 9
                let r0 = SIMD4<Float>(g[0], g[1], g[2], 0), r1 = SIMD4<Float>(g[3], g[4], g[5], 0)
                let r2 = SIMD4<Float>(g[6], g[7], g[8], 0)
                // Multiplications by the reciprocals: divisions here would cost more than the GEMMs on small planes.
                let (quarter, sixth, twelfth, twentyFourth): (Float, Float, Float, Float) = (0.25, 1.0 / 6, 1.0 / 12, 1.0 / 24)
                @inline(__always) func store(_ row: SIMD4<Float>, _ index: Int) {
                    // (G·g)·Gᵀ: the same combination on the columns.
                    let out = result + index * 6 * planeStride + pair
                    let (x, y, z) = (row.x, row.y, row.z)
                    let outer = x + z, even = x * twentyFourth + z * sixth
                    out[0] = x * quarter
                    out[planeStride] = -(outer + y) * sixth
                    out[2 * planeStride] = -(outer - y) * sixth
                    out[3 * planeStride] = even + y * twelfth
                    out[4 * planeStride] = even - y * twelfth
                    out[5 * planeStride] = z
                }
                // G·g: its six rows.
                let outer = r0 + r2, even = r0 * twentyFourth + r2 * sixth
                store(r0 * quarter, 0)
                store(-(outer + r1) * sixth, 1)
                store(-(outer - r1) * sixth, 2)
                store(even + r1 * twelfth, 3)
                store(even - r1 * twelfth, 4)
                store(r2, 5)
            }
        }
        return result
    }

    /// V[ξ][c][t] = (Bᵀ·d·B)[ξ] for the 6×6 input patch d of each tile (zero outside the image).
    func transformInput(_ image: UnsafePointer<Float>, firstTile: Int, tiles: Int, into buffer: UnsafeMutablePointer<Float>) {
        let g = geometry
        let channels = g.inputChannels, planeStride = channels * tiles + Self.planePadding
        forEachTile(channels: channels, firstTile: firstTile, tiles: tiles) { channel, local, y, x in
            let plane = image + channel * g.inputPlane
            let top = y - g.padding, left = x - g.padding
            @inline(__always) func row(_ offset: Int) -> SIMD8<Float> { inputRow(plane, y: top + offset, left: left, valid: 6) }
            let t = Self.inputRows(row(0), row(1), row(2), row(3), row(4), row(5))
            let out = buffer + channel * tiles + local
            @inline(__always) func store(_ v: SIMD8<Float>, _ index: Int) {
                // ·B on the row's six columns.
                let a = v[4] - 4 * v[2], b = v[3] - 4 * v[1], c = v[4] - v[2], e = 2 * (v[3] - v[1])
                let first = index * 6 * planeStride
                out[first] = 4 * v[0] - 5 * v[2] + v[4]
                out[first + planeStride] = a + b
                out[first + 2 * planeStride] = a - b
                out[first + 3 * planeStride] = c + e
                out[first + 4 * planeStride] = c - e
                out[first + 5 * planeStride] = 4 * v[1] - 5 * v[3] + v[5]
            }
            store(t.0, 0); store(t.1, 1); store(t.2, 2); store(t.3, 3); store(t.4, 4); store(t.5, 5)
        }
    }

    /// Y = Aᵀ·M·A per tile, written to the 4×4 outputs that fall inside the image.
    func transformOutput(_ products: UnsafePointer<Float>, firstTile: Int, tiles: Int, into output: UnsafeMutablePointer<Float>) {
        let g = geometry
        let channels = g.outputChannels, planeStride = channels * tiles + Self.planePadding
        forEachTile(channels: channels, firstTile: firstTile, tiles: tiles) { channel, local, y, x in
            let plane = output + channel * g.outputPlane
            let m = products + channel * tiles + local
            @inline(__always) func row(_ index: Int) -> SIMD8<Float> {
                let first = index * 6 * planeStride
                return SIMD8<Float>(m[first], m[first + planeStride], m[first + 2 * planeStride], m[first + 3 * planeStride],
                                    m[first + 4 * planeStride], m[first + 5 * planeStride], 0, 0)
            }
            let m0 = row(0), m1 = row(1), m2 = row(2), m3 = row(3), m4 = row(4), m5 = row(5)
            // Aᵀ·M: four rows; then ·A on each row's columns.
            let p = m1 + m2, q = m1 - m2, r = m3 + m4, s = m3 - m4
            let rows = (m0 + p + r, q + 2 * s, p + 4 * r, q + 8 * s + m5)
            let width = min(4, g.outputWidth - x), height = min(4, g.outputHeight - y)
            @inline(__always) func write(_ v: SIMD8<Float>, _ index: Int) {
                guard index < height else { return }
                let p = v[1] + v[2], q = v[1] - v[2], r = v[3] + v[4], s = v[3] - v[4]
                let values = SIMD4<Float>(v[0] + p + r, q + 2 * s, p + 4 * r, q + 8 * s + v[5])
                let line = plane + (y + index) * g.outputWidth + x
                if width == 4 {
                    UnsafeMutableRawPointer(line).storeBytes(of: values, as: SIMD4<Float>.self)
                } else {
                    for column in 0..<width { line[column] = values[column] }
                }
            }
            write(rows.0, 0); write(rows.1, 1); write(rows.2, 2); write(rows.3, 3)
        }
    }
}
