using System.Diagnostics;

namespace EntitlementDecision.TestSupport;

/// <summary>What a finished process left: its exit code and everything it wrote to stdout and stderr.</summary>
public sealed record ProcessRun(int ExitCode, string StdOut, string StdErr)
{
    /// <summary>stdout followed by stderr.</summary>
    public string Output => StdOut + StdErr;
}

/// <summary>
/// Runs a child process for a test: arguments as a list (no shell quoting), optional working directory and environment changes,
/// stdin closed, stdout and stderr captured. The wait is bounded: past <c>timeout</c> the whole process tree is killed and a
/// <see cref="TimeoutException"/> names the command; a cancelled <c>cancellationToken</c> also kills it (OperationCanceledException).
/// </summary>
public static class TestProcess
{
    /// <param name="environment">Variables to set on top of this process's environment; a null value removes the variable.</param>
    /// <exception cref="System.ComponentModel.Win32Exception">The file could not be started (e.g. not on PATH).</exception>
    public static async Task<ProcessRun> RunAsync(
        string file,
        IEnumerable<string> args,
        TimeSpan timeout,
        string? workingDirectory = null,
        IEnumerable<KeyValuePair<string, string?>>? environment = null,
        CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        if (workingDirectory is not null)
        {
            start.WorkingDirectory = workingDirectory;
        }

        foreach (var (name, value) in environment ?? [])
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        process.StandardInput.Close();
        // Read both pipes to the end without a token: a child that fills a pipe would otherwise block before it exits.
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException($"{file} {string.Join(' ', start.ArgumentList)} did not exit within {timeout.TotalSeconds} s");
        }

        return new ProcessRun(process.ExitCode, await stdout, await stderr);
    }
}
