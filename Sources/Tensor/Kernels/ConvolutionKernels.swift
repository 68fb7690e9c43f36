import Foundation

/// Sizes of one 2-D convolution, NCHW. Transposed convolutions use the geometry of the convolution
/// whose input-gradient they are (see `Tensor.convTranspose2d`).
public struct ConvolutionGeometry: Equatable, Sendable {
    public var batch: Int
    public var inputChannels: Int
    public var inputHeight: Int
    public var inputWidth: Int
    public var outputChannels: Int
    public var outputHeight: Int
    public var outputWidth: Int
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var stride: Int
    public var padding: Int
    public var dilation: Int
    public var groups: Int

    public var inputChannelsPerGroup: Int { inputChannels / groups }
    public var outputChannelsPerGroup: Int { outputChannels / groups }
    public var kernelArea: Int { kernelHeight * kernelWidth }
    public var inputPlane: Int { inputHeight * inputWidth }
    public var outputPlane: Int { outputHeight * outputWidth }
    /// Multiply-accumulates of the forward pass.
    public var multiplyAccumulates: Int {
        batch * outputChannels * outputPlane * inputChannelsPerGroup * kernelArea
    }

    /// Output side for an input side: ⌊(in + 2p − d(k − 1) − 1) / s⌋ + 1.
    public static func outputSize(input: Int, kernel: Int, stride: Int, padding: Int, dilation: Int) -> Int {
        (input + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
    }

    public init(
        batch: Int, inputChannels: Int, inputHeight: Int, inputWidth: Int, outputChannels: Int,
        kernelHeight: Int, kernelWidth: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1
    ) {
        self.batch = batch
        self.inputChannels = inputChannels
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.outputChannels = outputChannels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        outputHeight = Self.outputSize(input: inputHeight, kernel: kernelHeight, stride: stride, padding: padding,
                                       dilation: dilation)
        outputWidth = Self.outputSize(input: inputWidth, kernel: kernelWidth, stride: stride, padding: padding,
                                      dilation: dilation)
    }
}

/// How a convolution is lowered to GEMM, chosen per geometry and per pass. A new fast path is one more
/// case here plus its kernels; the ops and layers do not change.
public enum ConvolutionStrategy: String, Sendable {
    /// One GEMM per kernel tap over the input laid out with padded rows (split into stride² phase planes when
    /// strided), accumulated in place. No im2col buffer; costs (Wq/Wo − 1) extra columns.
    case shiftedGEMM
    /// Any stride: im2col in column chunks of bounded size, one GEMM per chunk.
    case im2col
    /// 3×3 stride 1 with ≥ 32 channels, all three passes: Winograd F(2×2, 3×3), 2.25× fewer multiplies.
    case winograd
    /// 3×3 stride 1 with ≥ 64 channels and planes of ≥ 48² pixels, forward and input gradient: Winograd F(4×4, 3×3),
    /// 4× fewer multiplies.
    case winogradF4
    /// Forward stride 1 with ≤ 8 output channels and a large kernel: one wide GEMM, then shifted sums.
    case kernelToRow

    /// The pass a strategy is chosen for.
    public enum Pass: Sendable { case forward, backwardInput, backwardWeight }

    /// The switches of this thread (each thread has its own; benchmarks and tests change them).
    static let switches = ThreadLocal<(forward: Bool, backward: Bool)> { (true, true) }

    /// When false, forward passes on this thread use only the GEMM lowerings (for benchmarks and comparisons).
    public static var allowsFastForwardPaths: Bool {
        get { switches.value.forward }
        set { switches.value.forward = newValue }
    }
    /// When false, Winograd on this thread is F(2×2, 3×3) only (for benchmarks and comparisons).
    public static var allowsWinogradF4: Bool {
        get { winogradF4Switch.value }
        set { winogradF4Switch.value = newValue }
    }
    static let winogradF4Switch = ThreadLocal<Bool> { true }
    /// When false, backward passes on this thread use only the GEMM lowerings (for benchmarks and comparisons).
    public static var allowsFastBackwardPaths: Bool {
        get { switches.value.backward }
        set { switches.value.backward = newValue }
    }

    /// The strategy the kernels use for `geometry` in `pass`.
    public static func choose(for geometry: ConvolutionGeometry, pass: Pass = .forward) -> ConvolutionStrategy {
        if pass == .forward && allowsFastForwardPaths && allowsWinogradF4 && WinogradF4x3.applies(to: geometry) { return .winogradF4 }
        if pass == .forward && allowsFastForwardPaths && WinogradF2x3.applies(to: geometry) { return .winograd }
        if pass == .backwardInput && allowsFastBackwardPaths && allowsWinogradF4 && WinogradF4x3.appliesToBackwardInput(geometry) {
            return .winogradF4
        }
        if pass == .backwardInput && allowsFastBackwardPaths && WinogradF2x3.appliesToBackwardInput(geometry) { return .winograd }
        if pass == .backwardWeight && allowsFastBackwardPaths && WinogradF2x3.applies(to: geometry) { return .winograd }
        if pass == .forward && allowsFastForwardPaths && KernelToRow.applies(to: geometry) { return .kernelToRow }
        if geometry.stride == 1 && (geometry.inputChannelsPerGroup >= 16 || geometry.kernelArea == 1) {
            return .shiftedGEMM
        }
        // Strided: phase planes, when the GEMMs' inner dimension (Cin; Cout for the input gradient) is deep enough.
        // Small planes stay with im2col: re-laying out the weights per tap would cost more than it saves.
        let depth = pass == .backwardInput ? geometry.outputChannelsPerGroup : geometry.inputChannelsPerGroup
        if geometry.stride > 1 && depth >= 16 && geometry.outputPlane >= 256 { return .shiftedGEMM }
        return .im2col
    }
}

/// Forward and backward convolution kernels on raw NCHW buffers.
public enum ConvolutionKernels {
    /// Upper bound, in floats, of the per-chunk workspace (im2col columns or wide output rows), for convolutions
    /// started on this thread (tests lower it to force partial chunks).
    public static var chunkBudget: Int {
        get { budget.value }
        set { budget.value = newValue }
    }
    static let budget = ThreadLocal<Int> { 1 << 19 }

    // MARK: - Public entry points

    /// `output[N, Cout, Ho, Wo] = conv(input[N, Cin, H, W], weight[Cout, Cin/groups, kh, kw])`, no bias.
    public static func forward(
        _ geometry: ConvolutionGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>
    ) {
        if geometry.isDepthwise { return Depthwise(geometry).forward(input: input, weight: weight, output: output) }
        switch ConvolutionStrategy.choose(for: geometry, pass: .forward) {
        case .winograd: WinogradF2x3(geometry).forward(input: input, weight: weight, output: output)
        case .winogradF4: WinogradF4x3(geometry).forward(input: input, weight: weight, output: output)
        case .kernelToRow: KernelToRow(geometry).forward(input: input, weight: weight, output: output)
        case .shiftedGEMM: ShiftedGEMM(geometry).forward(input: input, weight: weight, output: output)
        case .im2col: Im2col(geometry).forward(input: input, weight: weight, output: output)
        }
    }

    /// `gradientInput[N, Cin, H, W]` from `gradientOutput[N, Cout, Ho, Wo]` (overwrites).
    public static func backwardInput(
        _ geometry: ConvolutionGeometry, gradientOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        gradientInput: UnsafeMutablePointer<Float>
    ) {
        if geometry.isDepthwise {
            return Depthwise(geometry).backwardInput(gradientOutput: gradientOutput, weight: weight, gradientInput: gradientInput)
        }
        switch ConvolutionStrategy.choose(for: geometry, pass: .backwardInput) {
        case .winograd:
            WinogradF2x3(geometry).backwardInput(gradientOutput: gradientOutput, weight: weight, gradientInput: gradientInput)
        case .winogradF4:
            WinogradF4x3(geometry).backwardInput(gradientOutput: gradientOutput, weight: weight, gradientInput: gradientInput)
        case .shiftedGEMM, .kernelToRow:
            ShiftedGEMM(geometry).backwardInput(gradientOutput: gradientOutput, weight: weight,
                                                gradientInput: gradientInput)
        case .im2col:
            Im2col(geometry).backwardInput(gradientOutput: gradientOutput, weight: weight,
                                           gradientInput: gradientInput)
        }
    }

    /// `gradientWeight[Cout, Cin/groups, kh, kw]` from the input and `gradientOutput` (overwrites).
    public static func backwardWeight(
        _ geometry: ConvolutionGeometry, input: UnsafePointer<Float>, gradientOutput: UnsafePointer<Float>,
        gradientWeight: UnsafeMutablePointer<Float>
    ) {
        if geometry.isDepthwise {
            return Depthwise(geometry).backwardWeight(input: input, gradientOutput: gradientOutput, gradientWeight: gradientWeight)
        }
        switch ConvolutionStrategy.choose(for: geometry, pass: .backwardWeight) {
        case .winograd, .winogradF4:
            WinogradF2x3(geometry).backwardWeight(input: input, gradientOutput: gradientOutput, gradientWeight: gradientWeight)
        case .shiftedGEMM, .kernelToRow:
            ShiftedGEMM(geometry).backwardWeight(input: input, gradientOutput: gradientOutput,
                                                 gradientWeight: gradientWeight)
        case .im2col:
            Im2col(geometry).backwardWeight(input: input, gradientOutput: gradientOutput,
                                            gradientWeight: gradientWeight)
        }
    }
}

extension ConvolutionKernels {
    /// Copies one image's `[Cin, H, W]` channels into `[Cin, H + 2p, W + 2p]` with a zero border.
    static func zeroPad(_ image: UnsafePointer<Float>, geometry g: ConvolutionGeometry, into buffer: UnsafeMutablePointer<Float>) {
        let p = g.padding, paddedWidth = g.inputWidth + 2 * p
        let paddedPlane = (g.inputHeight + 2 * p) * paddedWidth
        Parallel.forEachRange(g.inputChannels, minimumPerWorker: max(1, 8192 / max(paddedPlane, 1))) { range in
            for channel in range {
                let destination = buffer + channel * paddedPlane
                destination.update(repeating: 0, count: p * paddedWidth)
                for row in 0..<g.inputHeight {
                    let line = destination + (row + p) * paddedWidth
                    line.update(repeating: 0, count: p)
                    (line + p).update(from: image + channel * g.inputPlane + row * g.inputWidth, count: g.inputWidth)
                    (line + p + g.inputWidth).update(repeating: 0, count: p)
                }
                (destination + (p + g.inputHeight) * paddedWidth).update(repeating: 0, count: p * paddedWidth)
            }
        }
    }
}

// MARK: - Shifted GEMM (any stride)

/// For stride 1, output pixel (y, x) reads input (y + ky·d, x + kx·d). Laid out with the padded row
/// width Wp, that is a constant offset ky·d·Wp + kx·d from position y·Wp + x, so each tap is one GEMM
/// `[Cout, Cin] × [Cin, L]` on a shifted view of the padded input, accumulated into a "wide" output
/// whose rows have Wp columns (the last Wp − Wo of each row are discarded).
///
/// Stride s > 1 becomes the same: the padded input is split into s² phase planes (plane (a, b) holds the pixels
/// (i·s + a, j·s + b)), each ⌈Hp/s⌉ × ⌈Wp/s⌉; tap (ky, kx) reads phase ((ky·d) mod s, (kx·d) mod s) shifted by
/// (⌊ky·d/s⌋, ⌊kx·d/s⌋), so every tap is again one GEMM with K = Cin over all output positions — no im2col matrix,
/// and no multiply spent on padding. Transposed convolutions (the input gradient of a strided one) get the same.
private struct ShiftedGEMM {
    let geometry: ConvolutionGeometry
    let paddedHeight: Int
    let paddedWidth: Int
    /// Rows of a phase plane, and the width of its rows and of the wide output's (Wp for stride 1).
    let phaseHeight: Int
    let rowWidth: Int
    /// Columns of the wide output that are computed: Ho·Wq − ⌊(kw − 1)·d/s⌋ keeps every read in bounds.
    let wideColumns: Int
    let chunkColumns: Int

    init(_ geometry: ConvolutionGeometry) {
        self.geometry = geometry
        let s = geometry.stride
        paddedHeight = geometry.inputHeight + 2 * geometry.padding
        paddedWidth = geometry.inputWidth + 2 * geometry.padding
        phaseHeight = (paddedHeight + s - 1) / s
        rowWidth = (paddedWidth + s - 1) / s
        wideColumns = geometry.outputHeight * rowWidth - (geometry.kernelWidth - 1) * geometry.dilation / s
        let perColumn = max(geometry.inputChannelsPerGroup, geometry.outputChannelsPerGroup)
        let rows = max(1, ConvolutionKernels.chunkBudget / max(perColumn * rowWidth, 1))
        chunkColumns = min(wideColumns, rows * rowWidth)
    }

    /// Floats of one phase plane, and of one channel's s² planes (the stride between channels of the laid-out input).
    var phasePlane: Int { phaseHeight * rowWidth }
    var channelStride: Int { geometry.stride * geometry.stride * phasePlane }
    var writesOutputDirectly: Bool { rowWidth == geometry.outputWidth }
    /// Whether the input must be copied (padded and/or split into phases) rather than read in place.
    var needsLayout: Bool { geometry.padding > 0 || geometry.stride > 1 }

    func shift(tap: Int) -> Int {
        let s = geometry.stride
        let dy = (tap / geometry.kernelWidth) * geometry.dilation, dx = (tap % geometry.kernelWidth) * geometry.dilation
        return ((dy % s) * s + dx % s) * phasePlane + (dy / s) * rowWidth + dx / s
    }

    /// Weights as `[groups][tap][Cout/g][Cin/g]`, one contiguous matrix per tap.
    func rearrangedWeight(_ weight: UnsafePointer<Float>) -> UnsafeMutablePointer<Float> {
        let g = geometry
        let taps = g.kernelArea, outPer = g.outputChannelsPerGroup, inPer = g.inputChannelsPerGroup
        let result = UnsafeMutablePointer<Float>.allocate(capacity: g.outputChannels * inPer * taps)
        Parallel.forEachRange(g.outputChannels, minimumPerWorker: max(1, 16384 / max(inPer * taps, 1))) { range in
            for channel in range {
                let (group, output) = (channel / outPer, channel % outPer)
                let source = weight + channel * inPer * taps
                for tap in 0..<taps {
                    let destination = result + ((group * taps + tap) * outPer + output) * inPer
                    for input in 0..<inPer { destination[input] = source[input * taps + tap] }
                }
            }
        }
        return result
    }

    /// One image's channels padded (and split into phase planes for stride > 1), or the image itself when neither
    /// is needed.
    func laidOut(_ image: UnsafePointer<Float>, into buffer: UnsafeMutablePointer<Float>?) -> UnsafePointer<Float> {
        guard let buffer else { return image }
        let g = geometry, s = g.stride, p = g.padding
        guard s > 1 else {
            ConvolutionKernels.zeroPad(image, geometry: g, into: buffer)
            return UnsafePointer(buffer)
        }
        Parallel.forEachRange(g.inputChannels, minimumPerWorker: max(1, 8192 / max(channelStride, 1))) { range in
            for channel in range {
                let source = image + channel * g.inputPlane
                for phase in 0..<(s * s) {
                    let (a, b) = (phase / s, phase % s)
                    let plane = buffer + channel * channelStride + phase * phasePlane
                    for i in 0..<phaseHeight {
                        let line = plane + i * rowWidth
                        let y = i * s + a - p
                        guard y >= 0 && y < g.inputHeight else { line.update(repeating: 0, count: rowWidth); continue }
                        let row = source + y * g.inputWidth
                        for j in 0..<rowWidth {
                            let x = j * s + b - p
                            line[j] = x >= 0 && x < g.inputWidth ? row[x] : 0
                        }
                    }
                }
            }
        }
        return UnsafePointer(buffer)
    }

    /// The inverse of ``laidOut(_:into:)`` for gradients: each input pixel's value from its padded phase position.
    func gatherLaidOut(_ buffer: UnsafePointer<Float>, into image: UnsafeMutablePointer<Float>) {
        let g = geometry, s = g.stride, p = g.padding
        Parallel.forEachRange(g.inputChannels, minimumPerWorker: max(1, 8192 / max(channelStride, 1))) { range in
            for channel in range {
                let source = buffer + channel * channelStride, destination = image + channel * g.inputPlane
                for y in 0..<g.inputHeight {
                    let (i, a) = ((y + p) / s, (y + p) % s)
                    let line = destination + y * g.inputWidth
                    if s == 1 {
                        line.update(from: source + i * rowWidth + p, count: g.inputWidth)
                        continue
                    }
                    for x in 0..<g.inputWidth {
                        let (j, b) = ((x + p) / s, (x + p) % s)
                        line[x] = source[(a * s + b) * phasePlane + i * rowWidth + j]
                    }
                }
            }
        }
    }

    func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let g = geometry
        let inPer = g.inputChannelsPerGroup, outPer = g.outputChannelsPerGroup, taps = g.kernelArea
        let rearranged = rearrangedWeight(weight)
        defer { rearranged.deallocate() }
        let padBuffer = needsLayout ? BufferPool.allocate(g.inputChannels * channelStride) : nil
        defer { if let padBuffer { BufferPool.release(padBuffer, count: g.inputChannels * channelStride) } }
        let wide = writesOutputDirectly ? nil : BufferPool.allocate(outPer * chunkColumns)
        defer { if let wide { BufferPool.release(wide, count: outPer * chunkColumns) } }

        for image in 0..<g.batch {
            let source = laidOut(input + image * g.inputChannels * g.inputPlane, into: padBuffer)
            for group in 0..<g.groups {
                let groupSource = source + group * inPer * channelStride
                let groupOutput = output + (image * g.outputChannels + group * outPer) * g.outputPlane
                var start = 0
                while start < wideColumns {
                    let columns = min(chunkColumns, wideColumns - start)
                    let destination = wide ?? groupOutput + start
                    let destinationStride = wide == nil ? g.outputPlane : columns
                    for tap in 0..<taps {
                        GEMMKernels.multiply(
                            m: outPer, n: columns, k: inPer,
                            a: rearranged + (group * taps + tap) * outPer * inPer, lda: inPer,
                            b: groupSource + shift(tap: tap) + start, ldb: channelStride,
                            beta: tap == 0 ? 0 : 1, c: destination, ldc: destinationStride)
                    }
                    if let wide { scatterWide(wide, columns: columns, start: start, channels: outPer, into: groupOutput) }
                    start += columns
                }
            }
        }
    }

    /// Copies the valid columns of a wide chunk into the NCHW output.
    func scatterWide(_ wide: UnsafePointer<Float>, columns: Int, start: Int, channels: Int,
                     into output: UnsafeMutablePointer<Float>) {
        let g = geometry
        Parallel.forEachRange(channels, minimumPerWorker: max(1, 16384 / max(columns, 1))) { range in
            for channel in range {
                var column = start
                let end = start + columns
                while column < end {
                    let row = column / rowWidth, x = column % rowWidth
                    let run = min(rowWidth - x, end - column)
                    if x < g.outputWidth {
                        let valid = min(run, g.outputWidth - x)
                        (output + channel * g.outputPlane + row * g.outputWidth + x)
                            .update(from: wide + channel * columns + (column - start), count: valid)
                    }
                    column += run
                }
            }
        }
    }

    /// Calls `body(group, start, columns, chunk, chunkStride)` for each column chunk of one image's output
    /// gradient in wide layout: gathered into `wide` (zero in the discarded columns) when rows need padding,
    /// else read in place. Both backward passes walk the gradient this way.
    func forEachGradientChunk(
        _ gradientOutput: UnsafePointer<Float>, image: Int, wide: UnsafeMutablePointer<Float>?,
        _ body: (_ group: Int, _ start: Int, _ columns: Int, _ chunk: UnsafePointer<Float>, _ chunkStride: Int) -> Void
    ) {
        let g = geometry, outPer = g.outputChannelsPerGroup
        for group in 0..<g.groups {
            let groupGradient = gradientOutput + (image * g.outputChannels + group * outPer) * g.outputPlane
            var start = 0
            while start < wideColumns {
                let columns = min(chunkColumns, wideColumns - start)
                if let wide {
                    gatherWide(groupGradient, columns: columns, start: start, channels: outPer, into: wide)
                    body(group, start, columns, UnsafePointer(wide), columns)
                } else {
                    body(group, start, columns, groupGradient + start, g.outputPlane)
                }
                start += columns
            }
        }
    }

    /// Fills a wide chunk from the NCHW gradient, zero in the discarded columns.
    func gatherWide(_ gradient: UnsafePointer<Float>, columns: Int, start: Int, channels: Int,
                    into wide: UnsafeMutablePointer<Float>) {
        let g = geometry
        Parallel.forEachRange(channels, minimumPerWorker: max(1, 16384 / max(columns, 1))) { range in
            for channel in range {
                var column = start
                let end = start + columns
                while column < end {
                    let row = column / rowWidth, x = column % rowWidth
                    let run = min(rowWidth - x, end - column)
                    let destination = wide + channel * columns + (column - start)
                    let valid = max(0, min(run, g.outputWidth - x))
                    if valid > 0 {
                        destination.update(from: gradient + channel * g.outputPlane + row * g.outputWidth + x, count: valid)
                    }
                    if run > valid { (destination + valid).update(repeating: 0, count: run - valid) }
                    column += run
                }
            }
        }
    }

    func backwardInput(gradientOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                       gradientInput: UnsafeMutablePointer<Float>) {
        let g = geometry
        let inPer = g.inputChannelsPerGroup, outPer = g.outputChannelsPerGroup, taps = g.kernelArea
        let rearranged = rearrangedWeight(weight)
        defer { rearranged.deallocate() }
        let padBuffer = needsLayout ? BufferPool.allocate(g.inputChannels * channelStride) : nil
        defer { if let padBuffer { BufferPool.release(padBuffer, count: g.inputChannels * channelStride) } }
        let wide = writesOutputDirectly ? nil : BufferPool.allocate(outPer * chunkColumns)
        defer { if let wide { BufferPool.release(wide, count: outPer * chunkColumns) } }

        for image in 0..<g.batch {
            let imageGradient = gradientInput + image * g.inputChannels * g.inputPlane
            let accumulator = padBuffer ?? imageGradient
            accumulator.update(repeating: 0, count: g.inputChannels * channelStride)
            forEachGradientChunk(gradientOutput, image: image, wide: wide) { group, start, columns, source, sourceStride in
                let groupAccumulator = accumulator + group * inPer * channelStride
                for tap in 0..<taps {
                    GEMMKernels.multiply(
                        transposeA: true, m: inPer, n: columns, k: outPer,
                        a: rearranged + (group * taps + tap) * outPer * inPer, lda: inPer,
                        b: source, ldb: sourceStride,
                        beta: 1, c: groupAccumulator + shift(tap: tap) + start, ldc: channelStride)
                }
            }
            if let padBuffer { gatherLaidOut(padBuffer, into: imageGradient) }
        }
    }

    func backwardWeight(input: UnsafePointer<Float>, gradientOutput: UnsafePointer<Float>,
                        gradientWeight: UnsafeMutablePointer<Float>) {
        let g = geometry
        let inPer = g.inputChannelsPerGroup, outPer = g.outputChannelsPerGroup, taps = g.kernelArea
        let accumulated = UnsafeMutablePointer<Float>.allocate(capacity: g.outputChannels * inPer * taps)
        accumulated.update(repeating: 0, count: g.outputChannels * inPer * taps)
        defer { accumulated.deallocate() }
        let padBuffer = needsLayout ? BufferPool.allocate(g.inputChannels * channelStride) : nil
        defer { if let padBuffer { BufferPool.release(padBuffer, count: g.inputChannels * channelStride) } }
        let wide = writesOutputDirectly ? nil : BufferPool.allocate(outPer * chunkColumns)
        defer { if let wide { BufferPool.release(wide, count: outPer * chunkColumns) } }

        for image in 0..<g.batch {
            let source = laidOut(input + image * g.inputChannels * g.inputPlane, into: padBuffer)
            forEachGradientChunk(gradientOutput, image: image, wide: wide) { group, start, columns, gradientChunk, gradientStride in
                let groupSource = source + group * inPer * channelStride
                for tap in 0..<taps {
                    GEMMKernels.multiply(
                        transposeB: true, m: outPer, n: inPer, k: columns,
                        a: gradientChunk, lda: gradientStride,
                        b: groupSource + shift(tap: tap) + start, ldb: channelStride,
                        beta: 1, c: accumulated + (group * taps + tap) * outPer * inPer, ldc: inPer)
                }
            }
        }
        for group in 0..<g.groups {
            for tap in 0..<taps {
                let source = accumulated + (group * taps + tap) * outPer * inPer
                for output in 0..<outPer {
                    let destination = gradientWeight + (group * outPer + output) * inPer * taps + tap
                    for inputChannel in 0..<inPer { destination[inputChannel * taps] = source[output * inPer + inputChannel] }
                }
            }
        }
    }
}

// MARK: - Chunked im2col (any stride)

/// Classic lowering: a `[Cin/g·kh·kw, columns]` matrix of input patches for a range of output positions,
/// built chunk by chunk so the workspace stays under ``ConvolutionKernels/chunkBudget``.
private struct Im2col {
    let geometry: ConvolutionGeometry
    let patchRows: Int
    let chunkColumns: Int

    init(_ geometry: ConvolutionGeometry) {
        self.geometry = geometry
        patchRows = geometry.inputChannelsPerGroup * geometry.kernelArea
        chunkColumns = max(1, min(geometry.outputPlane, ConvolutionKernels.chunkBudget / max(patchRows, 1)))
    }

    /// Calls `body(row, inputY, inputX…)` per output row segment; shared by im2col and col2im.
    @inline(__always)
    func forEachSegment(start: Int, columns: Int, _ body: (_ offset: Int, _ outputY: Int, _ outputX: Int, _ length: Int) -> Void) {
        var position = start
        let end = start + columns
        while position < end {
            let y = position / geometry.outputWidth, x = position % geometry.outputWidth
            let length = min(geometry.outputWidth - x, end - position)
            body(position - start, y, x, length)
            position += length
        }
    }

    /// Fills `columnsBuffer[patchRows, columns]` from one group's channels of one image.
    func fill(_ image: UnsafePointer<Float>, start: Int, columns: Int, into buffer: UnsafeMutablePointer<Float>) {
        let g = geometry
        Parallel.forEachRange(patchRows, minimumPerWorker: max(1, 8192 / max(columns, 1))) { range in
            for patchRow in range {
                let channel = patchRow / g.kernelArea, tap = patchRow % g.kernelArea
                let ky = tap / g.kernelWidth, kx = tap % g.kernelWidth
                let plane = image + channel * g.inputPlane
                let destination = buffer + patchRow * columns
                forEachSegment(start: start, columns: columns) { offset, y, x, length in
                    let inputY = y * g.stride - g.padding + ky * g.dilation
                    let out = destination + offset
                    guard inputY >= 0 && inputY < g.inputHeight else {
                        out.update(repeating: 0, count: length)
                        return
                    }
                    let line = plane + inputY * g.inputWidth
                    let firstX = x * g.stride - g.padding + kx * g.dilation
                    if g.stride == 1 && firstX >= 0 && firstX + length <= g.inputWidth {
                        out.update(from: line + firstX, count: length)
                    } else {
                        for index in 0..<length {
                            let inputX = firstX + index * g.stride
                            out[index] = (inputX >= 0 && inputX < g.inputWidth) ? line[inputX] : 0
                        }
                    }
                }
            }
        }
    }

    /// Adds `buffer[patchRows, columns]` back into one group's channels of one image (col2im).
    func accumulate(_ buffer: UnsafePointer<Float>, start: Int, columns: Int, into image: UnsafeMutablePointer<Float>) {
        let g = geometry
        Parallel.forEachRange(g.inputChannelsPerGroup, minimumPerWorker: max(1, 8192 / max(columns * g.kernelArea, 1))) { range in
            for channel in range {
                let plane = image + channel * g.inputPlane
                for tap in 0..<g.kernelArea {
                    let ky = tap / g.kernelWidth, kx = tap % g.kernelWidth
                    let source = buffer + (channel * g.kernelArea + tap) * columns
                    forEachSegment(start: start, columns: columns) { offset, y, x, length in
                        let inputY = y * g.stride - g.padding + ky * g.dilation
                        guard inputY >= 0 && inputY < g.inputHeight else { return }
                        let line = plane + inputY * g.inputWidth
                        let firstX = x * g.stride - g.padding + kx * g.dilation
                        let values = source + offset
                        for index in 0..<length {
                            let inputX = firstX + index * g.stride
                            if inputX >= 0 && inputX < g.inputWidth { line[inputX] += values[index] }
                        }
                    }
                }
            }
        }
    }

    func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let g = geometry, inPer = g.inputChannelsPerGroup, outPer = g.outputChannelsPerGroup
        let buffer = BufferPool.allocate(patchRows * chunkColumns)
        defer { BufferPool.release(buffer, count: patchRows * chunkColumns) }
        for image in 0..<g.batch {
            for group in 0..<g.groups {
                let groupInput = input + (image * g.inputChannels + group * inPer) * g.inputPlane
                let groupOutput = output + (image * g.outputChannels + group * outPer) * g.outputPlane
                var start = 0
                while start < g.outputPlane {
                    let columns = min(chunkColumns, g.outputPlane - start)
                    fill(groupInput, start: start, columns: columns, into: buffer)
                    GEMMKernels.multiply(m: outPer, n: columns, k: patchRows,
                                         a: weight + group * outPer * patchRows, lda: patchRows,
                                         b: buffer, ldb: columns, c: groupOutput + start, ldc: g.outputPlane)
                    start += columns
                }
            }
        }
    }

    func backwardInput(gradientOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                       gradientInput: UnsafeMutablePointer<Float>) {
        let g = geometry, inPer = g.inputChannelsPerGroup, outPer = g.outputChannelsPerGroup
        let buffer = BufferPool.allocate(patchRows * chunkColumns)
        defer { BufferPool.release(buffer, count: patchRows * chunkColumns) }
        gradientInput.update(repeating: 0, count: g.batch * g.inputChannels * g.inputPlane)
        for image in 0..<g.batch {
            for group in 0..<g.groups {
                let groupInput = gradientInput + (image * g.inputChannels + group * inPer) * g.inputPlane
                let groupGradient = gradientOutput + (image * g.outputChannels + group * outPer) * g.outputPlane
                var start = 0
                while start < g.outputPlane {
                    let columns = min(chunkColumns, g.outputPlane - start)
                    GEMMKernels.multiply(transposeA: true, m: patchRows, n: columns, k: outPer,
                                         a: weight + group * outPer * patchRows, lda: patchRows,
                                         b: groupGradient + start, ldb: g.outputPlane, c: buffer, ldc: columns)
                    accumulate(buffer, start: start, columns: columns, into: groupInput)
                    start += columns
                }
            }
        }
    }

    func backwardWeight(input: UnsafePointer<Float>, gradientOutput: UnsafePointer<Float>,
                        gradientWeight: UnsafeMutablePointer<Float>) {
        let g = geometry, inPer = g.inputChannelsPerGroup, outPer = g.outputChannelsPerGroup
        let buffer = BufferPool.allocate(patchRows * chunkColumns)
        defer { BufferPool.release(buffer, count: patchRows * chunkColumns) }
        gradientWeight.update(repeating: 0, count: g.outputChannels * patchRows)
        for image in 0..<g.batch {
            for group in 0..<g.groups {
                let groupInput = input + (image * g.inputChannels + group * inPer) * g.inputPlane
                let groupGradient = gradientOutput + (image * g.outputChannels + group * outPer) * g.outputPlane
                var start = 0
                while start < g.outputPlane {
                    let columns = min(chunkColumns, g.outputPlane - start)
                    fill(groupInput, start: start, columns: columns, into: buffer)
                    GEMMKernels.multiply(transposeB: true, m: outPer, n: patchRows, k: columns,
                                         a: groupGradient + start, lda: g.outputPlane, b: buffer, ldb: columns,
                                         beta: 1, c: gradientWeight + group * outPer * patchRows, ldc: patchRows)
                    start += columns
                }
            }
        }
    }
}

extension ConvolutionGeometry {
    /// One input and one output channel per group (a depthwise convolution, as the blur-pool filters): direct loops,
    /// where per-group GEMMs of one row would spend their time in call overhead.
    var isDepthwise: Bool { groups > 1 && groups == inputChannels && groups == outputChannels }
}

/// Direct loops for depthwise convolutions (``ConvolutionGeometry/isDepthwise``), parallel over planes.
struct Depthwise {
    let g: ConvolutionGeometry

    init(_ geometry: ConvolutionGeometry) { g = geometry }

    /// Visits every (output position, tap, input position) inside the image for one plane.
    @inline(__always)
    func forEachTap(_ body: (_ output: Int, _ tap: Int, _ input: Int) -> Void) {
        for oy in 0..<g.outputHeight {
            for ky in 0..<g.kernelHeight {
                let iy = oy * g.stride - g.padding + ky * g.dilation
                guard iy >= 0 && iy < g.inputHeight else { continue }
                for ox in 0..<g.outputWidth {
                    for kx in 0..<g.kernelWidth {
                        let ix = ox * g.stride - g.padding + kx * g.dilation
                        guard ix >= 0 && ix < g.inputWidth else { continue }
                        body(oy * g.outputWidth + ox, ky * g.kernelWidth + kx, iy * g.inputWidth + ix)
                    }
                }
            }
        }
    }

    var outputPlane: Int { g.outputHeight * g.outputWidth }
    var taps: Int { g.kernelHeight * g.kernelWidth }

    func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let planes = g.batch * g.inputChannels
        Parallel.forEachRange(planes, minimumPerWorker: 1) { range in
            for plane in range {
                let (source, target, filter) = (input + plane * g.inputPlane, output + plane * outputPlane, weight + (plane % g.inputChannels) * taps)
                target.update(repeating: 0, count: outputPlane)
                forEachTap { out, tap, inp in target[out] += filter[tap] * source[inp] }
            }
        }
    }

    func backwardInput(gradientOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>, gradientInput: UnsafeMutablePointer<Float>) {
        let planes = g.batch * g.inputChannels
        Parallel.forEachRange(planes, minimumPerWorker: 1) { range in
            for plane in range {
                let (source, target, filter) = (gradientOutput + plane * outputPlane, gradientInput + plane * g.inputPlane,
                                                weight + (plane % g.inputChannels) * taps)
                target.update(repeating: 0, count: g.inputPlane)
                forEachTap { out, tap, inp in target[inp] += filter[tap] * source[out] }
            }
        }
    }

    func backwardWeight(input: UnsafePointer<Float>, gradientOutput: UnsafePointer<Float>, gradientWeight: UnsafeMutablePointer<Float>) {
        Parallel.forEachRange(g.inputChannels, minimumPerWorker: 1) { range in
            for channel in range {
                let target = gradientWeight + channel * taps
                target.update(repeating: 0, count: taps)
                for image in 0..<g.batch {
                    let plane = image * g.inputChannels + channel
                    let (source, upstream) = (input + plane * g.inputPlane, gradientOutput + plane * outputPlane)
                    forEachTap { out, tap, inp in target[tap] += upstream[out] * source[inp] }
                }
            }
        }
    }
}
