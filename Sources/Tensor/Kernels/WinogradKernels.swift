import Foundation

/// Winograd's minimal filtering for 3×3 stride-1 convolutions (Lavin & Gray 2016, "Fast Algorithms for
/// Convolutional Neural Networks"), F(m×m, 3×3): with Bᵀ, G, Aᵀ the variant's matrices, U = G·g·Gᵀ (weights),
/// V = Bᵀ·d·B ((m + 2)² input tiles), each of the (m + 2)² element positions ξ becomes one GEMM
/// `M_ξ[Cout, tiles] = U_ξ[Cout, Cin] · V_ξ[Cin, tiles]`, and Y = Aᵀ·M·A gives the m×m outputs. Tiles are processed in
/// chunks so the V and M buffers stay bounded. A variant supplies the three transforms.
protocol WinogradConvolution {
    /// The output tile side m (input tiles are m + 2 wide).
    static var tile: Int { get }
    var geometry: ConvolutionGeometry { get }
    var tileRows: Int { get }
    var tileColumns: Int { get }
    var chunkTiles: Int { get }
    init(_ geometry: ConvolutionGeometry)
    /// U[ξ][Cout][Cin], planes `outputs · inputs + planePadding` apart (allocated; the caller deallocates).
    func transformedWeight(_ weight: UnsafePointer<Float>) -> UnsafeMutablePointer<Float>
    /// V[ξ][c][t] for tiles `firstTile ..< firstTile + tiles` of one image.
    func transformInput(_ image: UnsafePointer<Float>, firstTile: Int, tiles: Int, into buffer: UnsafeMutablePointer<Float>)
    /// Y from M[ξ][c][t], written to the outputs that fall inside the image.
    func transformOutput(_ products: UnsafePointer<Float>, firstTile: Int, tiles: Int, into output: UnsafeMutablePointer<Float>)
}

extension WinogradConvolution {
    /// (m + 2)²: the GEMMs per chunk.
    static var positions: Int { (tile + 2) * (tile + 2) }
    /// Floats between consecutive ξ planes beyond their size, so the planes a tile touches do not all map to the
    /// same cache sets (their natural stride is a large power of two).
    static var planePadding: Int { 16 }

    /// (tile rows, tile columns, tiles per chunk) of `geometry`.
    static func tiling(_ geometry: ConvolutionGeometry) -> (rows: Int, columns: Int, chunk: Int) {
        let rows = (geometry.outputHeight + tile - 1) / tile, columns = (geometry.outputWidth + tile - 1) / tile
        let perTile = positions * max(geometry.inputChannels, geometry.outputChannels)
        return (rows, columns, max(columns, min(rows * columns, (ConvolutionKernels.chunkBudget * 8) / perTile)))
    }

    /// Calls `body(channel, local, y, x)` for each of `channels` channels (in parallel) and each tile of the chunk
    /// `firstTile ..< firstTile + tiles`: `local` is the tile's index in the chunk, (y, x) its first output pixel.
    @inline(__always)
    func forEachTile(channels: Int, firstTile: Int, tiles: Int, _ body: (_ channel: Int, _ local: Int, _ y: Int, _ x: Int) -> Void) {
        Parallel.forEachRange(channels, minimumPerWorker: 4) { range in
            for channel in range {
                for local in 0..<tiles {
                    let tile = firstTile + local
                    body(channel, local, (tile / tileColumns) * Self.tile, (tile % tileColumns) * Self.tile)
                }
            }
        }
    }

    /// Columns `left ..< left + valid` of input row `y` of `plane` in the first lanes (zero outside the image; the
    /// other lanes unspecified).
    @inline(__always)
    func inputRow<V: SIMD>(_ plane: UnsafePointer<Float>, y: Int, left: Int, valid: Int) -> V where V.Scalar == Float {
        let g = geometry
        guard y >= 0 && y < g.inputHeight else { return V() }
        let line = plane + y * g.inputWidth
        if left >= 0 && left + V.scalarCount <= g.inputWidth { return UnsafeRawPointer(line + left).loadUnaligned(as: V.self) }
        var values = V()
        for column in 0..<valid where left + column >= 0 && left + column < g.inputWidth { values[column] = line[left + column] }
        return values
    }

    func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let g = geometry
        let inputs = g.inputChannels, outputs = g.outputChannels, positions = Self.positions, padding = Self.planePadding
        let transformed = transformedWeight(weight)
        defer { transformed.deallocate() }
        let totalTiles = tileRows * tileColumns
        let inputTiles = BufferPool.allocate(positions * (inputs * chunkTiles + padding))
        defer { BufferPool.release(inputTiles, count: positions * (inputs * chunkTiles + padding)) }
        let products = BufferPool.allocate(positions * (outputs * chunkTiles + padding))
        defer { BufferPool.release(products, count: positions * (outputs * chunkTiles + padding)) }

        for image in 0..<g.batch {
            let source = input + image * inputs * g.inputPlane
            let destination = output + image * outputs * g.outputPlane
            var first = 0
            while first < totalTiles {
                let count = min(chunkTiles, totalTiles - first)
                transformInput(source, firstTile: first, tiles: count, into: inputTiles)
                for position in 0..<positions {
                    GEMMKernels.multiply(m: outputs, n: count, k: inputs,
                                         a: transformed + position * (outputs * inputs + padding), lda: inputs,
                                         b: inputTiles + position * (inputs * count + padding), ldb: count,
                                         c: products + position * (outputs * count + padding), ldc: count)
                }
                transformOutput(products, firstTile: first, tiles: count, into: destination)
                first += count
            }
        }
    }

    /// The input gradient of a 3×3 stride-1 convolution is the forward convolution of the output gradient with
    /// the kernels flipped and input/output channels swapped, padded by 2 − p: Winograd applies to it too.
    static func transposedGeometry(_ g: ConvolutionGeometry) -> ConvolutionGeometry {
        ConvolutionGeometry(batch: g.batch, inputChannels: g.outputChannels, inputHeight: g.outputHeight, inputWidth: g.outputWidth,
                            outputChannels: g.inputChannels, kernelHeight: 3, kernelWidth: 3, padding: 2 - g.padding)
    }

    /// `gradientInput[N, Cin, H, W]` = forward Winograd of `gradientOutput` with W′[ci][co] = W[co][ci] rotated 180°.
    func backwardInput(gradientOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>, gradientInput: UnsafeMutablePointer<Float>) {
        let g = geometry
        let pairs = g.outputChannels * g.inputChannels
        let flipped = BufferPool.allocate(pairs * 9)
        defer { BufferPool.release(flipped, count: pairs * 9) }
        Parallel.forEachRange(pairs, minimumPerWorker: 4096) { range in
            for pair in range {
                let outputChannel = pair / g.inputChannels, inputChannel = pair % g.inputChannels
                let source = weight + pair * 9, destination = flipped + (inputChannel * g.outputChannels + outputChannel) * 9
                for tap in 0..<9 { destination[tap] = source[8 - tap] }
            }
        }
        let transposed = Self.transposedGeometry(g)
        precondition(transposed.outputHeight == g.inputHeight && transposed.outputWidth == g.inputWidth, "Winograd backward geometry")
        Self(transposed).forward(input: gradientOutput, weight: flipped, output: gradientInput)
    }
}

/// F(2×2, 3×3): each 2×2 output tile costs 16 multiplies per channel pair instead of 36 (2.25× fewer); also the
/// weight gradient.
struct WinogradF2x3: WinogradConvolution {
    static let tile = 2
    let geometry: ConvolutionGeometry
    let tileRows: Int
    let tileColumns: Int
    let chunkTiles: Int

    /// Stride 1, 3×3, no dilation, one group, and enough channels for the 16 GEMMs to run at full rate.
    static func applies(to geometry: ConvolutionGeometry) -> Bool {
        geometry.kernelHeight == 3 && geometry.kernelWidth == 3 && geometry.stride == 1 && geometry.dilation == 1
            && geometry.groups == 1 && geometry.inputChannels >= 32 && geometry.outputChannels >= 32
            && geometry.outputHeight >= 2 && geometry.outputWidth >= 2
    }

    init(_ geometry: ConvolutionGeometry) {
        self.geometry = geometry
        (tileRows, tileColumns, chunkTiles) = Self.tiling(geometry)
    }

    /// U[ξ][Cout][Cin] = (G·g·Gᵀ)[ξ] for every (output, input) channel pair.
    func transformedWeight(_ weight: UnsafePointer<Float>) -> UnsafeMutablePointer<Float> {
        let pairs = geometry.outputChannels * geometry.inputChannels
        let planeStride = pairs + Self.planePadding
        let result = UnsafeMutablePointer<Float>.allocate(capacity: 16 * planeStride)
        Parallel.forEachRange(pairs, minimumPerWorker: 4096) { range in
            for pair in range {
                let g = weight + pair * 9
                // G·g: rows g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2 of the 3×3 kernel's rows.
                let r0 = SIMD4<Float>(g[0], g[1], g[2], 0), r1 = SIMD4<Float>(g[3], g[4], g[5], 0)
                let r2 = SIMD4<Float>(g[6], g[7], g[8], 0)
                let rows = (r0, 0.5 * (r0 + r1 + r2), 0.5 * (r0 - r1 + r2), r2)
                func store(_ row: SIMD4<Float>, _ index: Int) {
                    // (G·g)·Gᵀ: the same combination on the columns.
                    let out = result + index * 4 * planeStride + pair
                    out[0] = row.x
                    out[planeStride] = 0.5 * (row.x + row.y + row.z)
                    out[2 * planeStride] = 0.5 * (row.x - row.y + row.z)
                    out[3 * planeStride] = row.z
                }
                store(rows.0, 0); store(rows.1, 1); store(rows.2, 2); store(rows.3, 3)
            }
        }
        return result
    }

    /// V[ξ][c][t] = (Bᵀ·d·B)[ξ] for the 4×4 input patch d of each tile (zero outside the image).
    func transformInput(_ image: UnsafePointer<Float>, firstTile: Int, tiles: Int, into buffer: UnsafeMutablePointer<Float>) {
        let g = geometry
        let channels = g.inputChannels, planeStride = channels * tiles + Self.planePadding
        forEachTile(channels: channels, firstTile: firstTile, tiles: tiles) { channel, local, y, x in
            let plane = image + channel * g.inputPlane
            let top = y - g.padding, left = x - g.padding
            @inline(__always) func row(_ offset: Int) -> SIMD4<Float> { inputRow(plane, y: top + offset, left: left, valid: 4) }
            let d0 = row(0), d1 = row(1), d2 = row(2), d3 = row(3)
            // Bᵀ·d: rows d0 − d2, d1 + d2, d2 − d1, d1 − d3; then ·B on each row's columns.
            let out = buffer + channel * tiles + local
            @inline(__always) func store(_ t: SIMD4<Float>, _ index: Int) {
                out[(index * 4) * planeStride] = t.x - t.z
                out[(index * 4 + 1) * planeStride] = t.y + t.z
                out[(index * 4 + 2) * planeStride] = t.z - t.y
                out[(index * 4 + 3) * planeStride] = t.y - t.w
            }
            store(d0 - d2, 0); store(d1 + d2, 1); store(d2 - d1, 2); store(d1 - d3, 3)
        }
    }

    /// Y = Aᵀ·M·A per tile, written to the 2×2 outputs that fall inside the image.
    func transformOutput(_ products: UnsafePointer<Float>, firstTile: Int, tiles: Int, into output: UnsafeMutablePointer<Float>) {
        let g = geometry
        let channels = g.outputChannels, planeStride = channels * tiles + Self.planePadding
        forEachTile(channels: channels, firstTile: firstTile, tiles: tiles) { channel, local, y, x in
            let plane = output + channel * g.outputPlane
            let m = products + channel * tiles + local
            @inline(__always) func row(_ index: Int) -> SIMD4<Float> {
                SIMD4<Float>(m[(index * 4) * planeStride], m[(index * 4 + 1) * planeStride],
                     m[(index * 4 + 2) * planeStride], m[(index * 4 + 3) * planeStride])
            }
            let m0 = row(0), m1 = row(1), m2 = row(2), m3 = row(3)
            // Aᵀ·M: rows m0 + m1 + m2 and m1 − m2 − m3; then ·A on the columns.
            let top = m0 + m1 + m2, bottom = m1 - m2 - m3
            let line = plane + y * g.outputWidth + x
            let hasRight = x + 1 < g.outputWidth, hasBelow = y + 1 < g.outputHeight
            line[0] = top.x + top.y + top.z
            if hasRight { line[1] = top.y - top.z - top.w }
            if hasBelow {
                line[g.outputWidth] = bottom.x + bottom.y + bottom.z
                if hasRight { line[g.outputWidth + 1] = bottom.y - bottom.z - bottom.w }
            }
        }
    }
}
extension WinogradF2x3 {
    static func appliesToBackwardInput(_ geometry: ConvolutionGeometry) -> Bool {
        applies(to: geometry) && geometry.padding <= 2 && geometry.inputHeight >= 2 && geometry.inputWidth >= 2
    }

    /// `gradientWeight[Cout, Cin, 3, 3]` through the Winograd transforms (exact in real arithmetic): per tile,
    /// ∂L/∂M = A·∂Y·Aᵀ; the 16 GEMMs ∂U_ξ[Cout, Cin] += ∂M_ξ[Cout, tiles] · V_ξ[Cin, tiles]ᵀ sum over tiles and
    /// images; then ∂g = Gᵀ·∂U·G. 2.25× fewer multiplies than the GEMM lowering.
    func backwardWeight(input: UnsafePointer<Float>, gradientOutput: UnsafePointer<Float>, gradientWeight: UnsafeMutablePointer<Float>) {
        let g = geometry
        let inputs = g.inputChannels, outputs = g.outputChannels
        let totalTiles = tileRows * tileColumns
        let planeStride = outputs * inputs + Self.planePadding
        let accumulated = BufferPool.allocate(16 * planeStride)
        defer { BufferPool.release(accumulated, count: 16 * planeStride) }
        let inputTiles = BufferPool.allocate(16 * (inputs * chunkTiles + Self.planePadding))
        defer { BufferPool.release(inputTiles, count: 16 * (inputs * chunkTiles + Self.planePadding)) }
        let gradientTiles = BufferPool.allocate(16 * (outputs * chunkTiles + Self.planePadding))
        defer { BufferPool.release(gradientTiles, count: 16 * (outputs * chunkTiles + Self.planePadding)) }
        var started = false
        for image in 0..<g.batch {
            let source = input + image * inputs * g.inputPlane
            let gradient = gradientOutput + image * outputs * g.outputPlane
            var first = 0
            while first < totalTiles {
                let count = min(chunkTiles, totalTiles - first)
                transformInput(source, firstTile: first, tiles: count, into: inputTiles)
                transformOutputGradient(gradient, firstTile: first, tiles: count, into: gradientTiles)
                for position in 0..<16 {
                    GEMMKernels.multiply(transposeB: true, m: outputs, n: inputs, k: count,
                                         a: gradientTiles + position * (outputs * count + Self.planePadding), lda: count,
                                         b: inputTiles + position * (inputs * count + Self.planePadding), ldb: count,
                                         beta: started ? 1 : 0, c: accumulated + position * planeStride, ldc: inputs)
                }
                started = true
                first += count
            }
        }
        // ∂g = Gᵀ·∂U·G, with Gᵀ's rows (1, ½, ½, 0), (0, ½, −½, 0), (0, ½, ½, 1).
        Parallel.forEachRange(outputs * inputs, minimumPerWorker: 4096) { range in
            for pair in range {
                @inline(__always) func row(_ index: Int) -> SIMD4<Float> {
                    let base = accumulated + index * 4 * planeStride + pair
                    return SIMD4<Float>(base[0], base[planeStride], base[2 * planeStride], base[3 * planeStride])
                }
                let u0 = row(0), u1 = row(1), u2 = row(2), u3 = row(3)
                let rows = (u0 + 0.5 * (u1 + u2), 0.5 * (u1 - u2), 0.5 * (u1 + u2) + u3)
                let destination = gradientWeight + pair * 9
                for (index, x) in [rows.0, rows.1, rows.2].enumerated() {
                    destination[index * 3] = x.x + 0.5 * (x.y + x.z)
                    destination[index * 3 + 1] = 0.5 * (x.y - x.z)
                    destination[index * 3 + 2] = 0.5 * (x.y + x.z) + x.w
                }
            }
        }
    }

    /// ∂M[ξ][c][t] = (A·∂Y·Aᵀ)[ξ] for the 2×2 output-gradient patch of each tile (zero outside the output).
    func transformOutputGradient(_ gradient: UnsafePointer<Float>, firstTile: Int, tiles: Int, into buffer: UnsafeMutablePointer<Float>) {
        let g = geometry
        let channels = g.outputChannels, planeStride = channels * tiles + Self.planePadding
        forEachTile(channels: channels, firstTile: firstTile, tiles: tiles) { channel, local, y, x in
            let plane = gradient + channel * g.outputPlane
            let line = plane + y * g.outputWidth + x
            let hasRight = x + 1 < g.outputWidth, hasBelow = y + 1 < g.outputHeight
            let a = line[0], b = hasRight ? line[1] : 0
            let c = hasBelow ? line[g.outputWidth] : 0, d = hasBelow && hasRight ? line[g.outputWidth + 1] : 0
            // A·∂Y: rows (a, b), (a + c, b + d), (a − c, b − d), (−c, −d); ·Aᵀ maps (p, q) to (p, p + q, p − q, −q).
            let out = buffer + channel * tiles + local
            @inline(__always) func store(_ p: Float, _ q: Float, _ index: Int) {
                out[(index * 4) * planeStride] = p
                out[(index * 4 + 1) * planeStride] = p + q
                out[(index * 4 + 2) * planeStride] = p - q
                out[(index * 4 + 3) * planeStride] = -q
            }
            store(a, b, 0); store(a + c, b + d, 1); store(a - c, b - d, 2); store(-c, -d, 3)
        }
    }
}

/// Forward convolution for few output channels and a large kernel ("kn2row"): one GEMM
/// `[Cout·taps, Cin] × [Cin, rows·Wp]` over a band of padded input rows, then each output sums its
/// taps' shifted rows. Keeps the GEMM wide where per-tap GEMMs would have only Cout rows.
struct KernelToRow {
    let geometry: ConvolutionGeometry
    let paddedHeight: Int
    let paddedWidth: Int
    let bandRows: Int

    static func applies(to geometry: ConvolutionGeometry) -> Bool {
        geometry.stride == 1 && geometry.groups == 1 && geometry.outputChannels <= 8 && geometry.kernelArea >= 9
            && geometry.inputChannels >= 8
    }

    init(_ geometry: ConvolutionGeometry) {
        self.geometry = geometry
        paddedHeight = geometry.inputHeight + 2 * geometry.padding
        paddedWidth = geometry.inputWidth + 2 * geometry.padding
        let halo = (geometry.kernelHeight - 1) * geometry.dilation
        let rowsFitting = (ConvolutionKernels.chunkBudget * 8) / max(geometry.outputChannels * geometry.kernelArea * paddedWidth, 1)
        bandRows = max(1, min(geometry.outputHeight, rowsFitting - halo))
    }

    func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let g = geometry
        let taps = g.kernelArea, rowsOfProduct = g.outputChannels * taps
        let halo = (g.kernelHeight - 1) * g.dilation
        // W2[co·taps + tap][ci] = W[co][ci][tap].
        let rearranged = BufferPool.allocate(rowsOfProduct * g.inputChannels)
        defer { BufferPool.release(rearranged, count: rowsOfProduct * g.inputChannels) }
        for outputChannel in 0..<g.outputChannels {
            for inputChannel in 0..<g.inputChannels {
                for tap in 0..<taps {
                    rearranged[(outputChannel * taps + tap) * g.inputChannels + inputChannel] =
                        weight[(outputChannel * g.inputChannels + inputChannel) * taps + tap]
                }
            }
        }
        let paddedPlane = paddedHeight * paddedWidth
        let padBuffer = g.padding > 0 ? BufferPool.allocate(g.inputChannels * paddedPlane) : nil
        defer { if let padBuffer { BufferPool.release(padBuffer, count: g.inputChannels * paddedPlane) } }
        let product = BufferPool.allocate(rowsOfProduct * (bandRows + halo) * paddedWidth)
        defer { BufferPool.release(product, count: rowsOfProduct * (bandRows + halo) * paddedWidth) }

        for image in 0..<g.batch {
            var source = input + image * g.inputChannels * g.inputPlane
            if let padBuffer {
                ConvolutionKernels.zeroPad(source, geometry: g, into: padBuffer)
                source = UnsafePointer(padBuffer)
            }
            var firstRow = 0
            while firstRow < g.outputHeight {
                let rows = min(bandRows, g.outputHeight - firstRow)
                let columns = (rows + halo) * paddedWidth
                GEMMKernels.multiply(m: rowsOfProduct, n: columns, k: g.inputChannels, a: rearranged, lda: g.inputChannels,
                                     b: source + firstRow * paddedWidth, ldb: paddedPlane, c: product, ldc: columns)
                let destination = output + image * g.outputChannels * g.outputPlane
                Parallel.forEachRange(g.outputChannels * rows, minimumPerWorker: 8) { range in
                    for item in range {
                        let outputChannel = item / rows, row = item % rows
                        let line = destination + outputChannel * g.outputPlane + (firstRow + row) * g.outputWidth
                        line.update(repeating: 0, count: g.outputWidth)
                        for tap in 0..<taps {
                            let ky = tap / g.kernelWidth, kx = tap % g.kernelWidth
                            let shifted = product + (outputChannel * taps + tap) * columns
                                + (row + ky * g.dilation) * paddedWidth + kx * g.dilation
                            for x in 0..<g.outputWidth { line[x] += shifted[x] }
                        }
                    }
                }
                firstRow += rows
            }
        }
    }
}
