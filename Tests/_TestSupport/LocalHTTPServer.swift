import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.0 file server on 127.0.0.1 (an ephemeral port) for download tests: GET of a known path
/// answers 200 with the bytes, anything else 404. Stops when released or on `stop()`.
public final class LocalHTTPServer: @unchecked Sendable {
    public let port: UInt16
    private let descriptor: Int32
    private let files: [String: Data]
    private let lock = NSLock()
    private var requests: [String] = []

    public init(files: [String: Data]) throws {
        self.files = files
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EIO) }
        var enable: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &enable, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
        guard bound == 0, listen(descriptor, 8) == 0 else { close(descriptor); throw POSIXError(.EADDRINUSE) }
        withUnsafeMutablePointer(to: &address) { pointer in
            _ = pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        self.descriptor = descriptor
        let thread = Thread { [weak self] in self?.serve() }
        thread.start()
    }

    /// Paths requested so far.
    public var requestedPaths: [String] { lock.lock(); defer { lock.unlock() }; return requests }

    /// `http://127.0.0.1:<port><path>`.
    public func url(_ path: String) -> URL { URL(string: "http://127.0.0.1:\(port)\(path)")! }

    private func serve() {
        while true {
            let client = accept(descriptor, nil, nil)
            if client < 0 { return }
            var request = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !request.suffix(4).elementsEqual([13, 10, 13, 10]) {
                let count = read(client, &buffer, buffer.count)
                if count <= 0 { break }
                request += buffer[0..<count]
            }
            let line = String(decoding: request.prefix { $0 != 13 }, as: UTF8.self).split(separator: " ")
            let path = line.count > 1 ? String(line[1]) : "/"
            lock.lock(); requests.append(path); lock.unlock()
            let body = files[path]
            let header = body.map { "HTTP/1.0 200 OK\r\nContent-Length: \($0.count)\r\nConnection: close\r\n\r\n" }
                ?? "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            let response = Array(header.utf8) + [UInt8](body ?? Data())
            var sent = 0
            while sent < response.count {
                let count = response[sent...].withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
                if count <= 0 { break }
                sent += count
            }
            close(client)
        }
    }

    public func stop() { shutdown(descriptor, Int32(SHUT_RDWR)); close(descriptor) }

    deinit { stop() }
}
