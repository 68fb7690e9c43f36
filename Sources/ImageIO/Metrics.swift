import Foundation

/// Image-quality measures between a reference and a result of the same size (8-bit scale).
public enum ImageMetrics {
    /// Peak signal-to-noise ratio in dB over all samples (∞ for identical images).
    public static func psnr(_ reference: Image, _ result: Image) -> Double {
        precondition(reference.samples.count == result.samples.count, "PSNR of images of different sizes")
        var squared = 0.0
        for index in 0..<reference.samples.count {
            let difference = Double(reference.samples[index]) - Double(result.samples[index])
            squared += difference * difference
        }
        let mean = squared / Double(reference.samples.count)
        let peak = Double(reference.maximumValue)
        return mean == 0 ? .infinity : 10 * log10(peak * peak / mean)
    }

    /// SSIM (Wang et al. 2004) with an 11×11 Gaussian window (σ = 1.5), K1 = 0.01, K2 = 0.03, averaged over
    /// the valid window positions and the channels — scikit-image's `structural_similarity(…, gaussian_weights=True,
    /// sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=2)` without its border handling:
    /// it averages over positions whose window lies inside the image.
    public static func ssim(_ reference: Image, _ result: Image) -> Double {
        precondition(reference.width == result.width && reference.height == result.height && reference.channels == result.channels)
        let radius = 5
        var kernel = (-radius...radius).map { exp(-Double($0 * $0) / (2 * 1.5 * 1.5)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        let peak = Double(reference.maximumValue)
        let c1 = (0.01 * peak) * (0.01 * peak), c2 = (0.03 * peak) * (0.03 * peak)
        let (width, height, channels) = (reference.width, reference.height, reference.channels)
        guard width > 2 * radius, height > 2 * radius else { return psnr(reference, result).isInfinite ? 1 : 0 }
        var sum = 0.0
        var count = 0
        for channel in 0..<channels {
            func plane(_ image: Image) -> [Double] { (0..<(width * height)).map { Double(image.samples[$0 * channels + channel]) } }
            let x = plane(reference), y = plane(result)
            // Separable Gaussian filtering of x, y, x², y², xy (valid region only).
            func filtered(_ values: [Double]) -> [Double] {
                let validWidth = width - 2 * radius, validHeight = height - 2 * radius
                var horizontal = [Double](repeating: 0, count: validWidth * height)
                for row in 0..<height {
                    for column in 0..<validWidth {
                        var accumulator = 0.0
                        for tap in 0..<kernel.count { accumulator += kernel[tap] * values[row * width + column + tap] }
                        horizontal[row * validWidth + column] = accumulator
                    }
                }
                var result = [Double](repeating: 0, count: validWidth * validHeight)
                for row in 0..<validHeight {
                    for column in 0..<validWidth {
                        var accumulator = 0.0
                        for tap in 0..<kernel.count { accumulator += kernel[tap] * horizontal[(row + tap) * validWidth + column] }
                        result[row * validWidth + column] = accumulator
                    }
                }
                return result
            }
            let meanX = filtered(x), meanY = filtered(y)
            let squaresX = filtered(x.map { $0 * $0 }), squaresY = filtered(y.map { $0 * $0 })
            let products = filtered(zip(x, y).map { $0 * $1 })
            for index in 0..<meanX.count {
                let mx = meanX[index], my = meanY[index]
                let vx = squaresX[index] - mx * mx, vy = squaresY[index] - my * my, cxy = products[index] - mx * my
                sum += ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
                count += 1
            }
        }
        return sum / Double(count)
    }

    /// Colourfulness of an 8-bit RGB image (Hasler & Süsstrunk 2003): with rg = R − G and yb = ½(R + G) − B,
    /// √(σ_rg² + σ_yb²) + 0.3·√(μ_rg² + μ_yb²). 0 for a gray image; about 15–30 for "moderately colourful" photos,
    /// above 45 for "quite colourful".
    public static func colorfulness(_ image: Image) -> Double {
        let rgb = image.rgb().converted(toBitDepth: 8)
        let count = Double(rgb.width * rgb.height)
        var sumRG = 0.0, sumYB = 0.0, squaresRG = 0.0, squaresYB = 0.0
        for pixel in 0..<(rgb.width * rgb.height) {
            let red = Double(rgb.samples[3 * pixel]), green = Double(rgb.samples[3 * pixel + 1]), blue = Double(rgb.samples[3 * pixel + 2])
            let rg = red - green, yb = 0.5 * (red + green) - blue
            sumRG += rg
            sumYB += yb
            squaresRG += rg * rg
            squaresYB += yb * yb
        }
        let meanRG = sumRG / count, meanYB = sumYB / count
        let varianceRG = max(0, squaresRG / count - meanRG * meanRG), varianceYB = max(0, squaresYB / count - meanYB * meanYB)
        return (varianceRG + varianceYB).squareRoot() + 0.3 * (meanRG * meanRG + meanYB * meanYB).squareRoot()
    }

    /// Sharpness: the mean over pixels of |∂x| + |∂y| (forward differences) of the mean-of-RGB image on 0–255 — the
    /// definition the latent-diffusion bars use, compared as a ratio to the truth's. Blur lowers it; invented texture
    /// raises it.
    public static func sharpness(_ image: Image) -> Double {
        let (mean, width, height) = meanOfChannels(image)
        var horizontal = 0.0, vertical = 0.0
        for y in 0..<height {
            for x in 0..<width {
                if x + 1 < width { horizontal += abs(mean[y * width + x + 1] - mean[y * width + x]) }
                if y + 1 < height { vertical += abs(mean[(y + 1) * width + x] - mean[y * width + x]) }
            }
        }
        let dx = width > 1 ? horizontal / Double((width - 1) * height) : 0
        let dy = height > 1 ? vertical / Double(width * (height - 1)) : 0
        return dx + dy
    }

    /// The mean-of-RGB (or gray) image on 0–255, row-major, with its width and height.
    static func meanOfChannels(_ image: Image) -> (values: [Double], width: Int, height: Int) {
        let source = image.channels >= 3 ? image.rgb().converted(toBitDepth: 8) : image.grayscale().converted(toBitDepth: 8)
        let (width, height, channels) = (source.width, source.height, source.channels)
        var mean = [Double](repeating: 0, count: width * height)
        for pixel in 0..<(width * height) {
            var total = 0.0
            for channel in 0..<channels { total += Double(source.samples[pixel * channels + channel]) }
            mean[pixel] = total / Double(channels)
        }
        return (mean, width, height)
    }

    /// A grid-locked periodic artifact (the checkerboard of transposed convolutions): the power spectrum of the
    /// column means and of the row means of the mean-of-RGB image (Hann-windowed) — photo content averages out along
    /// them, a pattern fixed to the pixel grid does not — and, at each frequency with a period of 2–16 px, its power
    /// over the median power of its neighbourhood (±max(8, N/64) bins, the 2 nearest on each side left out).
    /// `peak` is the largest such ratio and its period; `atFourPixels` the ratio at a 4-px period (the largest of the
    /// bins nearest N/4). Natural photos give a few units (the largest of many noisy ratios); a visible
    /// checkerboard gives tens to thousands. A pattern whose row and column means are flat (a pure XOR checker) is
    /// not seen; transposed convolutions' uneven overlap is not of that kind.
    public static func periodicPeak(_ image: Image) -> (peak: Double, period: Double, atFourPixels: Double) {
        let (values, width, height) = meanOfChannels(image)
        var columns = [Double](repeating: 0, count: width), rows = [Double](repeating: 0, count: height)
        for y in 0..<height {
            for x in 0..<width {
                columns[x] += values[y * width + x] / Double(height)
                rows[y] += values[y * width + x] / Double(width)
            }
        }
        var best = (peak: 0.0, period: 0.0, atFourPixels: 0.0)
        for profile in [columns, rows] where profile.count >= 32 {
            let count = profile.count
            let spectrum = powerSpectrum(profile)
            let reach = max(8, count / 64)
            func ratio(_ bin: Int) -> Double {
                let neighbours = (max(1, bin - reach)...min(count / 2, bin + reach)).filter { abs($0 - bin) > 2 }.map { spectrum[$0] }.sorted()
                guard !neighbours.isEmpty else { return 0 }
                let median = neighbours[neighbours.count / 2]
                return median > 0 ? spectrum[bin] / median : (spectrum[bin] > 0 ? .infinity : 0)
            }
            for bin in max(1, count / 16)...(count / 2) {
                let value = ratio(bin)
                if value > best.peak { best.peak = value; best.period = Double(count) / Double(bin) }
            }
            let quarter = Int((Double(count) / 4).rounded())
            best.atFourPixels = max(best.atFourPixels, (max(1, quarter - 1)...min(count / 2, quarter + 1)).map(ratio).max() ?? 0)
        }
        return best
    }

    /// |DFT|² of `signal` minus its mean, Hann-windowed, for bins 0…N/2 (a direct transform: profiles are short).
    static func powerSpectrum(_ signal: [Double]) -> [Double] {
        let count = signal.count
        let mean = signal.reduce(0, +) / Double(count)
        let windowed = signal.enumerated().map { index, value in
            (value - mean) * (0.5 - 0.5 * Foundation.cos(2 * Double.pi * Double(index) / Double(count - 1)))
        }
        return (0...(count / 2)).map { bin in
            var real = 0.0, imaginary = 0.0
            let step = 2 * Double.pi * Double(bin) / Double(count)
            for (index, value) in windowed.enumerated() {
                real += value * Foundation.cos(step * Double(index))
                imaginary -= value * Foundation.sin(step * Double(index))
            }
            return real * real + imaginary * imaginary
        }
    }
}
