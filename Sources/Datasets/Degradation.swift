import Foundation
import ImageIO
import Tensor

/// How low-resolution training inputs are made from photos: a light version of Real-ESRGAN's degradation model, so
/// that a super-resolution model sees what real small images look like, not one clean filter.
///
/// With probability ``cleanProbability`` the input is PIL's bicubic ÷f downscale (what most resized images are);
/// otherwise a mild Gaussian blur (p ½, σ 0.2–1.2 high-resolution pixels), a ÷f downscale with a random PIL filter
/// (box, bilinear, bicubic, lanczos, hamming), Gaussian noise (p 0.4, σ 1–5 levels) and a JPEG round trip (p ½,
/// quality 60–95). Every choice comes from the caller's generator, so a seeded loader repeats it.
public struct Degradation: Sendable, Equatable {
    public var factor: Int
    public var cleanProbability: Double

    public init(factor: Int = 4, cleanProbability: Double = 0.5) {
        self.factor = factor
        self.cleanProbability = cleanProbability
    }

    /// The low-resolution version of an 8-bit RGB `image` whose sides are multiples of ``factor``.
    public func apply(_ image: Image, generator: RandomGenerator) -> Image {
        let width = image.width / factor, height = image.height / factor
        if generator.nextDouble() < cleanProbability { return image.resized(width: width, height: height, filter: .bicubic) }
        var source = image
        if generator.nextDouble() < 0.5 { source = source.gaussianBlurred(sigma: 0.2 + generator.nextDouble()) }
        let filters: [ResizeFilter] = [.box, .bilinear, .bicubic, .lanczos, .hamming]
        var low = source.resized(width: width, height: height, filter: filters[generator.nextInt(below: filters.count)])
        if generator.nextDouble() < 0.4 {
            let sigma = 1 + 4 * generator.nextDouble()
            var samples = low.samples
            for index in samples.indices {
                let first = max(generator.nextDouble(), 1e-12), second = generator.nextDouble()
                let noise = sigma * (-2 * Foundation.log(first)).squareRoot() * Foundation.cos(2 * .pi * second)
                samples[index] = UInt16(min(max((Double(samples[index]) + noise).rounded(), 0), 255))
            }
            low.samples = samples
        }
        if generator.nextDouble() < 0.5, let data = try? low.encoded(as: .jpeg, quality: 60 + generator.nextInt(below: 36)),
           let decoded = try? Image.decode(data) {
            low = decoded
        }
        return low
    }
}

extension Image {
    /// A separable Gaussian blur of an 8-bit image (σ in pixels, kernel ±3σ, edges repeated), rounded back to 8 bits.
    public func gaussianBlurred(sigma: Double) -> Image {
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        var kernel = (-radius...radius).map { Foundation.exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        var horizontal = [Double](repeating: 0, count: samples.count)
        for y in 0..<height {
            for x in 0..<width {
                for channel in 0..<channels {
                    var sum = 0.0
                    for (offset, weight) in kernel.enumerated() {
                        let sx = min(max(x + offset - radius, 0), width - 1)
                        sum += weight * Double(samples[(y * width + sx) * channels + channel])
                    }
                    horizontal[(y * width + x) * channels + channel] = sum
                }
            }
        }
        var result = self
        for y in 0..<height {
            for x in 0..<width {
                for channel in 0..<channels {
                    var sum = 0.0
                    for (offset, weight) in kernel.enumerated() {
                        let sy = min(max(y + offset - radius, 0), height - 1)
                        sum += weight * horizontal[(sy * width + x) * channels + channel]
                    }
                    result.samples[(y * width + x) * channels + channel] = UInt16(min(max(sum.rounded(), 0), Double(maximumValue)))
                }
            }
        }
        return result
    }
}

/// Super-resolution pairs from photos: each sample's B is a preprocessed photo crop (the target, sides multiples of
/// the factor), its A the ``Degradation`` of it. Photos are listed as ``SingleDataset`` does.
public struct SuperResolutionDataset: Dataset {
    public let photos: [URL]
    public let preprocessing: Preprocessing
    public let degradation: Degradation

    public init(folder: URL, preprocessing: Preprocessing, degradation: Degradation) throws {
        photos = try ImageFolder.list(folder)
        try preprocessing.validate()
        self.preprocessing = preprocessing
        self.degradation = degradation
    }

    public var count: Int { photos.count }

    public func sample(at index: Int, generator: RandomGenerator) throws -> Sample {
        let image: Image
        do { image = try Image.read(contentsOf: photos[index]).rgb().converted(toBitDepth: 8) } catch let error as ImageError {
            throw DatasetError.unreadableImage(error)
        }
        var target = preprocessing.apply(image, generator: generator)
        let factor = degradation.factor
        if target.width % factor != 0 || target.height % factor != 0 {
            target = target.cropped(x: 0, y: 0, width: target.width / factor * factor, height: target.height / factor * factor)
        }
        let low = degradation.apply(target, generator: generator)
        return Sample(a: low.tensor(), b: target.tensor(), pathA: photos[index].path, pathB: photos[index].path)
    }
}
