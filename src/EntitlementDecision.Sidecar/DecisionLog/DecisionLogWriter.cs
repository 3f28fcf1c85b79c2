using System.Buffers;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;

namespace EntitlementDecision.Sidecar.DecisionLog;

/// <summary>
/// The decision log: every CheckEntitlement decision, as one JSON object per line, in {spool}/decisions.jsonl for a shipper to tail.
/// <see cref="RecordAsync"/> is the hot path: the sampling choice and a bounded in-memory queue, never I/O and never an exception.
/// One background loop drains the queue in batches of at most <see cref="DecisionLogOptions.MaxBatchRecords"/>, each batch one
/// write(2) (visible to a tailing shipper at once; no fsync, so a machine crash may lose the last batches, a process crash only
/// what is queued). Once decisions.jsonl passes MaxFileBytes it is renamed decisions-{UTC yyyyMMddTHHmmssfff}.jsonl (names
/// strictly increase) and a new one begun; beyond MaxFiles rotated files the oldest is deleted, its lines counted as rotated_out:
/// the shipper must keep up.
/// Nothing disappears uncounted: a record is written, sampled_out, or dropped (queue full in drop mode, a blocked call cancelled,
/// or still queued when the host's shutdown timeout ended the final flush). A failed write (disk full, spool gone) keeps its
/// batch and retries every RetryInterval, so the queue fills and WhenFull applies; a half-written batch is cut off the file
/// before the retry, so the file holds whole lines only.
/// Metrics (meter <see cref="MeterName"/>): ed.sidecar.decision_log.records {record} by outcome (written | sampled_out | dropped),
/// ed.sidecar.decision_log.queue {record} (queued, not yet written), ed.sidecar.decision_log.rotated_out {record},
/// ed.sidecar.decision_log.write_errors {error}.
/// </summary>
internal sealed partial class DecisionLogWriter : IHostedLifecycleService, IDisposable
{
    public const string MeterName = "EntitlementDecision.Sidecar";
    public const string CurrentFileName = "decisions.jsonl";
    private static readonly TimeSpan WarningInterval = TimeSpan.FromSeconds(10);

    private readonly DecisionLogOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Func<double> _random;
    private readonly double _sample;
    private readonly bool _block;
    private readonly Channel<DecisionRecord> _channel;
    private readonly string _directory;
    private readonly string _currentPath;
    private readonly ArrayBufferWriter<byte> _buffer = new(256 * 1024);
    private readonly Utf8JsonWriter _json;
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _giveUp = new();
    private readonly Meter _meter;
    private Task? _loop;
    private FileStream? _file;
    private long _committed = -1; // length of decisions.jsonl through its last whole batch; -1: take the file's length on opening
    private long _lastRotationMs;
    private long _written, _sampledOut, _dropped, _rotatedOut, _pending, _writeErrors;
    private long _droppedReported;
    private int _failedAttempts;
    private DateTimeOffset _lastWriteWarning = DateTimeOffset.MinValue;
    private DateTimeOffset _lastDropWarning = DateTimeOffset.MinValue;

    /// <summary>The writer for <paramref name="options"/> (which must name a directory); <paramref name="random"/> draws uniformly
    /// from [0, 1) for sampling (<see cref="Random.Shared"/> unless a test fixes it).</summary>
    public DecisionLogWriter(DecisionLogOptions options, IMeterFactory meterFactory, ILogger<DecisionLogWriter> logger, TimeProvider time, Func<double>? random = null)
    {
        _options = options.Enabled ? options : throw new ArgumentException("the decision log is off (no directory)", nameof(options));
        _logger = logger;
        _time = time;
        _random = random ?? Random.Shared.NextDouble;
        _sample = options.SampleAllowed;
        _block = options.WhenFull == DecisionLogFullMode.Block;
        _directory = Path.GetFullPath(options.Directory!);
        _currentPath = Path.Combine(_directory, CurrentFileName);
        _channel = Channel.CreateBounded<DecisionRecord>(new BoundedChannelOptions(options.Capacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
            AllowSynchronousContinuations = false,
        });
        _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = true });
        _meter = meterFactory.Create(MeterName);
        _meter.CreateObservableCounter("ed.sidecar.decision_log.records", ObserveRecords, "{record}",
            "Decisions offered to the decision log by outcome: written to the spool, sampled_out (allowed decisions beyond the sample), dropped (queue full in drop mode, or unwritten at shutdown)");
        _meter.CreateObservableGauge("ed.sidecar.decision_log.queue", () => Queued, "{record}", "Decisions queued in memory, not yet written to the spool");
        _meter.CreateObservableCounter("ed.sidecar.decision_log.rotated_out", () => RotatedOut, "{record}", "Written decisions in rotated files deleted to keep at most MAX_FILES");
        _meter.CreateObservableCounter("ed.sidecar.decision_log.write_errors", () => WriteErrors, "{error}", "Failed writes to the spool (each retried)");
    }

    public long Written => Volatile.Read(ref _written);

    public long SampledOut => Volatile.Read(ref _sampledOut);

    public long Dropped => Volatile.Read(ref _dropped);

    /// <summary>Lines of rotated files deleted beyond MaxFiles.</summary>
    public long RotatedOut => Volatile.Read(ref _rotatedOut);

    public long WriteErrors => Volatile.Read(ref _writeErrors);

    /// <summary>Records accepted and not yet written: in the queue, or in the batch being written.</summary>
    public long Queued => _channel.Reader.Count + Volatile.Read(ref _pending);

    /// <summary>The queue itself (benchmarks drain it to measure the hot path alone).</summary>
    internal ChannelReader<DecisionRecord> Queue => _channel.Reader;

    /// <summary>
    /// Offers a decision. Completes synchronously unless WhenFull is block and the queue is full; then the call waits for space
    /// (a cancelled wait counts the record as dropped). Never throws.
    /// </summary>
    public ValueTask RecordAsync(in DecisionRecord record, CancellationToken cancellationToken)
    {
        if (record.Allowed && !record.Fallback && _sample < 1 && (_sample <= 0 || _random() >= _sample))
        {
            Interlocked.Increment(ref _sampledOut);
            return default;
        }

        if (_channel.Writer.TryWrite(record))
        {
            return default;
        }

        if (_block)
        {
            return WaitForSpaceAsync(record, cancellationToken);
        }

        Interlocked.Increment(ref _dropped);
        return default;
    }

    private async ValueTask WaitForSpaceAsync(DecisionRecord record, CancellationToken cancellationToken)
    {
        try
        {
            await _channel.Writer.WriteAsync(record, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            // The call ended (deadline, client gone) or the host stopped before there was room.
            Interlocked.Increment(ref _dropped);
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Opens the spool and starts the loop. An unwritable spool (permissions) stops start-up naming the variable; other
    /// I/O errors are retried by the loop.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            _file = Open();
        }
        catch (UnauthorizedAccessException e)
        {
            throw new InvalidOperationException($"ED_SIDECAR_DECISION_LOG: cannot write the spool file {_currentPath}: {e.Message}", e);
        }
        catch (IOException e)
        {
            Interlocked.Increment(ref _writeErrors);
            WarnWriteFailed(e);
        }

        LogStarted(_logger, _currentPath, _options.SampleAllowed, _options.WhenFull, _options.Capacity);
        _loop ??= Task.Run(RunAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    // The writer outlives the server's StopAsync: it drains in StoppedAsync, after the server finished its in-flight calls.
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Closes the queue and writes what it holds. When <paramref name="cancellationToken"/> fires first (the host's
    /// shutdown timeout) the loop gives up and counts what is left as dropped.</summary>
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        _channel.Writer.TryComplete();
        await _stopping.CancelAsync().ConfigureAwait(false);
        _loop ??= Task.Run(RunAsync, CancellationToken.None);
        try
        {
            await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await _giveUp.CancelAsync().ConfigureAwait(false);
            await _loop.ConfigureAwait(false);
        }

        _file?.Dispose();
        _file = null;
    }

    public void Dispose()
    {
        _file?.Dispose();
        _json.Dispose();
        _meter.Dispose();
        _stopping.Dispose();
        _giveUp.Dispose();
    }

    private async Task RunAsync()
    {
        var reader = _channel.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                var batch = 0;
                while (batch < _options.MaxBatchRecords && reader.TryRead(out var record))
                {
                    record.WriteTo(_json);
                    _json.Flush();
                    _json.Reset();
                    _buffer.GetSpan(1)[0] = (byte)'\n';
                    _buffer.Advance(1);
                    batch++;
                    Volatile.Write(ref _pending, batch);
                }

                await CommitAsync(batch).ConfigureAwait(false);
                ReportDrops();
                if (_options.FlushInterval > TimeSpan.Zero && reader.Count < _options.Capacity / 2 && !_stopping.IsCancellationRequested)
                {
                    try
                    {
                        await Task.Delay(_options.FlushInterval, _time, _stopping.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        // Stopping: drain the rest at once.
                    }
                }
            }
        }
        catch (OperationCanceledException) when (_giveUp.IsCancellationRequested)
        {
            LogGaveUp(_logger, DropRemaining(), _currentPath);
        }
        catch (Exception e)
        {
            // A bug, not an I/O error: stop taking records, so every later one is counted as dropped.
            _channel.Writer.TryComplete();
            LogLoopFailed(_logger, e, DropRemaining());
        }
    }

    private long DropRemaining()
    {
        var lost = Interlocked.Exchange(ref _pending, 0);
        while (_channel.Reader.TryRead(out _))
        {
            lost++;
        }

        Interlocked.Add(ref _dropped, lost);
        return lost;
    }

    private async Task CommitAsync(int records)
    {
        while (true)
        {
            try
            {
                _file ??= Open();
                _file.Write(_buffer.WrittenSpan); // unbuffered FileStream: one write(2) for the batch
                _committed += _buffer.WrittenCount;
                break;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Interlocked.Increment(ref _writeErrors);
                WarnWriteFailed(e);
                _file?.Dispose(); // the next attempt reopens and cuts off whatever part of the batch reached the file
                _file = null;
                ReportDrops();
                await Task.Delay(_options.RetryInterval, _time, _giveUp.Token).ConfigureAwait(false);
            }
        }

        _buffer.ResetWrittenCount();
        Volatile.Write(ref _pending, 0);
        Interlocked.Add(ref _written, records);
        if (_failedAttempts > 0)
        {
            LogWritingAgain(_logger, _currentPath, _failedAttempts);
            _failedAttempts = 0;
            _lastWriteWarning = DateTimeOffset.MinValue;
        }

        if (_committed >= _options.MaxFileBytes)
        {
            Rotate();
        }
    }

    private FileStream Open()
    {
        Directory.CreateDirectory(_directory);
        var file = new FileStream(_currentPath, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        try
        {
            var length = file.Length;
            if (_committed >= 0 && length > _committed)
            {
                file.SetLength(_committed);
                length = _committed;
            }

            _committed = length;
            file.Position = length;
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private void Rotate()
    {
        try
        {
            _file?.Dispose();
            _file = null;
            var ms = Math.Max(_time.GetUtcNow().ToUnixTimeMilliseconds(), _lastRotationMs + 1);
            string target;
            while (File.Exists(target = RotatedPath(ms)))
            {
                ms++;
            }

            File.Move(_currentPath, target);
            _lastRotationMs = ms;
            _committed = -1;
            Prune();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Appending to the current file goes on; rotation is tried again after the next batch.
            LogRotationFailed(_logger, e, _currentPath);
        }
    }

    private string RotatedPath(long unixMs) =>
        Path.Combine(_directory, $"decisions-{DateTimeOffset.FromUnixTimeMilliseconds(unixMs).ToString("yyyyMMdd'T'HHmmssfff", CultureInfo.InvariantCulture)}.jsonl");

    private void Prune()
    {
        var rotated = Directory.GetFiles(_directory, "decisions-*.jsonl");
        Array.Sort(rotated, StringComparer.Ordinal);
        for (var i = 0; i < rotated.Length - _options.MaxFiles; i++)
        {
            var lines = CountLines(rotated[i]);
            File.Delete(rotated[i]);
            Interlocked.Add(ref _rotatedOut, lines);
            LogRotatedOut(_logger, Path.GetFileName(rotated[i]), lines, _options.MaxFiles);
        }
    }

    private static long CountLines(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        var chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            long lines = 0;
            int read;
            while ((read = file.Read(chunk)) > 0)
            {
                lines += chunk.AsSpan(0, read).Count((byte)'\n');
            }

            return lines;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    private void WarnWriteFailed(Exception e)
    {
        _failedAttempts++;
        var now = _time.GetUtcNow();
        if (now - _lastWriteWarning >= WarningInterval)
        {
            _lastWriteWarning = now;
            LogWriteFailed(_logger, e, _currentPath, _failedAttempts, Queued, _options.WhenFull);
        }
    }

    private void ReportDrops()
    {
        var dropped = Dropped;
        var now = _time.GetUtcNow();
        if (dropped != _droppedReported && now - _lastDropWarning >= WarningInterval)
        {
            LogDropped(_logger, dropped - _droppedReported, dropped, _options.Capacity);
            _droppedReported = dropped;
            _lastDropWarning = now;
        }
    }

    private IEnumerable<Measurement<long>> ObserveRecords() =>
    [
        new(Written, new KeyValuePair<string, object?>("outcome", "written")),
        new(SampledOut, new KeyValuePair<string, object?>("outcome", "sampled_out")),
        new(Dropped, new KeyValuePair<string, object?>("outcome", "dropped")),
    ];

    [LoggerMessage(EventId = 9100, Level = LogLevel.Information, Message = "Decision log: writing {Path} (allowed decisions sampled at {Sample}; when the queue of {Capacity} is full: {WhenFull})")]
    private static partial void LogStarted(ILogger logger, string path, double sample, DecisionLogFullMode whenFull, int capacity);

    [LoggerMessage(EventId = 9101, Level = LogLevel.Warning, Message = "Decision log: cannot write {Path} ({Attempts} failed attempts so far, {Queued} records queued; retrying; when the queue is full: {WhenFull})")]
    private static partial void LogWriteFailed(ILogger logger, Exception exception, string path, int attempts, long queued, DecisionLogFullMode whenFull);

    [LoggerMessage(EventId = 9102, Level = LogLevel.Information, Message = "Decision log: writing {Path} again after {Attempts} failed attempts")]
    private static partial void LogWritingAgain(ILogger logger, string path, int attempts);

    [LoggerMessage(EventId = 9103, Level = LogLevel.Warning, Message = "Decision log: {Count} records dropped since the last report ({Total} in all): the queue of {Capacity} was full")]
    private static partial void LogDropped(ILogger logger, long count, long total, int capacity);

    [LoggerMessage(EventId = 9104, Level = LogLevel.Information, Message = "Decision log: deleted {File} ({Lines} records) to keep {MaxFiles} rotated files")]
    private static partial void LogRotatedOut(ILogger logger, string file, long lines, int maxFiles);

    [LoggerMessage(EventId = 9105, Level = LogLevel.Warning, Message = "Decision log: cannot rotate {Path}; appending to it meanwhile")]
    private static partial void LogRotationFailed(ILogger logger, Exception exception, string path);

    [LoggerMessage(EventId = 9107, Level = LogLevel.Critical, Message = "Decision log: the writer loop failed; {Count} queued and all further decisions are counted as dropped")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception, long count);

    [LoggerMessage(EventId = 9106, Level = LogLevel.Error, Message = "Decision log: shutdown timed out with {Count} records not written to {Path} (counted as dropped)")]
    private static partial void LogGaveUp(ILogger logger, long count, string path);
}
