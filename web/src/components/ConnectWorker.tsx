// "Connect your worker": a client and worker for the namespace in each SDK
// and the `temporal` CLI, filled with its gRPC endpoint, its id and the
// chosen credential (an API key read from TEMPORAL_API_KEY, over TLS; a
// client certificate and key from files; or none, for `orrery dev`), with a
// copy button.
import { useId, useState } from "react";
import type { Namespace } from "../api/control-plane";
import { Section } from "./ui";

type Credential = "api-key" | "mtls" | "none";
const LANGUAGES = ["Python", "Go", "TypeScript", "Java", "CLI"] as const;
type Language = (typeof LANGUAGES)[number];

interface Filled {
  endpoint: string;
  namespace: string;
  credential: Credential;
  cert: string;
  key: string;
}

function python(f: Filled): string {
  const auth =
    f.credential === "none"
      ? ""
      : f.credential === "api-key"
      ? `        api_key=os.environ["TEMPORAL_API_KEY"],\n        tls=True,\n`
      : `        tls=TLSConfig(\n            client_cert=Path("${f.cert}").read_bytes(),\n            client_private_key=Path("${f.key}").read_bytes(),\n        ),\n`;
  const imports = f.credential === "api-key" ? "import os\n" : f.credential === "mtls" ? "from pathlib import Path\n" : "";
  return `import asyncio
${imports}
from temporalio.client import Client${f.credential === "mtls" ? ", TLSConfig" : ""}
from temporalio.worker import Worker


async def main():
    client = await Client.connect(
        "${f.endpoint}",
        namespace="${f.namespace}",
${auth}    )
    worker = Worker(client, task_queue="my-task-queue", workflows=[...], activities=[...])
    await worker.run()


asyncio.run(main())
`;
}

/** Go struct fields as gofmt aligns them. */
function goFields(fields: [string, string][]): string {
  const width = Math.max(...fields.map(([k]) => k.length)) + 1;
  return fields.map(([k, v]) => `\t\t${`${k}:`.padEnd(width)} ${v},\n`).join("");
}

function go(f: Filled): string {
  const before =
    f.credential === "mtls"
      ? `\tcert, err := tls.LoadX509KeyPair("${f.cert}", "${f.key}")
\tif err != nil {
\t\tlog.Fatal(err)
\t}
`
      : "";
  const fields: [string, string][] = [
    ["HostPort", `"${f.endpoint}"`],
    ["Namespace", `"${f.namespace}"`],
  ];
  if (f.credential === "api-key") {
    fields.push(["Credentials", `client.NewAPIKeyStaticCredentials(os.Getenv("TEMPORAL_API_KEY"))`]);
    fields.push(["ConnectionOptions", "client.ConnectionOptions{TLS: &tls.Config{}}"]);
  } else if (f.credential === "mtls") {
    fields.push(["ConnectionOptions", "client.ConnectionOptions{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}"]);
  }
  return `package main

import (
${f.credential === "none" ? "" : '\t"crypto/tls"\n'}\t"log"
${f.credential === "api-key" ? '\t"os"\n' : ""}
\t"go.temporal.io/sdk/client"
\t"go.temporal.io/sdk/worker"
)

func main() {
${before}\tc, err := client.Dial(client.Options{
${goFields(fields)}\t})
\tif err != nil {
\t\tlog.Fatal(err)
\t}
\tdefer c.Close()
\tw := worker.New(c, "my-task-queue", worker.Options{})
\t// w.RegisterWorkflow(...); w.RegisterActivity(...)
\tlog.Fatal(w.Run(worker.InterruptCh()))
}
`;
}

function typescript(f: Filled): string {
  const auth =
    f.credential === "none"
      ? ""
      : f.credential === "api-key"
      ? `    tls: true,\n    apiKey: process.env.TEMPORAL_API_KEY,\n`
      : `    tls: {\n      clientCertPair: { crt: fs.readFileSync('${f.cert}'), key: fs.readFileSync('${f.key}') },\n    },\n`;
  return `${f.credential === "mtls" ? "import fs from 'node:fs';\n" : ""}import { NativeConnection, Worker } from '@temporalio/worker';
import * as activities from './activities';

async function run() {
  const connection = await NativeConnection.connect({
    address: '${f.endpoint}',
${auth}  });
  const worker = await Worker.create({
    connection,
    namespace: '${f.namespace}',
    taskQueue: 'my-task-queue',
    workflowsPath: require.resolve('./workflows'),
    activities,
  });
  await worker.run();
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
`;
}

function java(f: Filled): string {
  const auth =
    f.credential === "none"
      ? ""
      : f.credential === "api-key"
      ? `                .setEnableHttps(true)
                .addApiKey(() -> System.getenv("TEMPORAL_API_KEY"))\n`
      : `                .setSslContext(SimpleSslContextBuilder.forPKCS8(
                        new FileInputStream("${f.cert}"), new FileInputStream("${f.key}")).build())\n`;
  return `${f.credential === "mtls" ? "import io.temporal.serviceclient.SimpleSslContextBuilder;\nimport java.io.FileInputStream;\n" : ""}import io.temporal.client.WorkflowClient;
import io.temporal.client.WorkflowClientOptions;
import io.temporal.serviceclient.WorkflowServiceStubs;
import io.temporal.serviceclient.WorkflowServiceStubsOptions;
import io.temporal.worker.Worker;
import io.temporal.worker.WorkerFactory;

public class MyWorker {
    public static void main(String[] args) throws Exception {
        WorkflowServiceStubs service = WorkflowServiceStubs.newServiceStubs(
            WorkflowServiceStubsOptions.newBuilder()
                .setTarget("${f.endpoint}")
${auth}                .build());
        WorkflowClient client = WorkflowClient.newInstance(service,
            WorkflowClientOptions.newBuilder().setNamespace("${f.namespace}").build());
        WorkerFactory factory = WorkerFactory.newInstance(client);
        Worker worker = factory.newWorker("my-task-queue");
        // worker.registerWorkflowImplementationTypes(...); worker.registerActivitiesImplementations(...);
        factory.start();
    }
}
`;
}

function cli(f: Filled): string {
  const auth =
    f.credential === "none"
      ? ""
      : f.credential === "api-key"
      ? ` \\\n  --api-key "$TEMPORAL_API_KEY" \\\n  --tls`
      : ` \\\n  --tls-cert-path ${f.cert} \\\n  --tls-key-path ${f.key}`;
  return `temporal workflow list \\
  --address ${f.endpoint} \\
  --namespace ${f.namespace}${auth}
`;
}

const WRITERS: Record<Language, (f: Filled) => string> = { Python: python, Go: go, TypeScript: typescript, Java: java, CLI: cli };

export function ConnectWorker({ ns }: { ns: Namespace }) {
  const [language, setLanguage] = useState<Language>("Python");
  const [credential, setCredential] = useState<Credential>("api-key");
  const [cert, setCert] = useState("client.pem");
  const [key, setKey] = useState("client.key");
  const [status, setStatus] = useState("");
  const ids = useId();
  const text = WRITERS[language]({ endpoint: ns.grpc_endpoint, namespace: ns.id, credential, cert: cert || "client.pem", key: key || "client.key" });
  async function copy(): Promise<void> {
    try {
      await navigator.clipboard.writeText(text);
      setStatus("Copied.");
    } catch {
      setStatus("Copying is not allowed here; select the text instead.");
    }
  }
  return (
    <Section title="Connect your worker" testid="connect-worker">
      <fieldset className="choices">
        <legend>Credential</legend>
        <label className="inline-check">
          <input type="radio" name={`${ids}-credential`} checked={credential === "api-key"} onChange={() => setCredential("api-key")} />{" "}
          API key (from <code>TEMPORAL_API_KEY</code>, over TLS)
        </label>
        <label className="inline-check">
          <input type="radio" name={`${ids}-credential`} checked={credential === "mtls"} onChange={() => setCredential("mtls")} /> mTLS
          client certificate
        </label>
        <label className="inline-check">
          <input type="radio" name={`${ids}-credential`} checked={credential === "none"} onChange={() => setCredential("none")} /> None
          (a local <code>orrery dev</code>)
        </label>
      </fieldset>
      {credential === "mtls" ? (
        <div className="form">
          <div className="field">
            <label htmlFor={`${ids}-cert`}>Certificate file</label>
            <input id={`${ids}-cert`} value={cert} onChange={(e) => setCert(e.target.value)} autoComplete="off" />
          </div>
          <div className="field">
            <label htmlFor={`${ids}-key`}>Private key file</label>
            <input id={`${ids}-key`} value={key} onChange={(e) => setKey(e.target.value)} autoComplete="off" />
          </div>
        </div>
      ) : null}
      <div className="tabs wrap" role="group" aria-label="Language">
        {LANGUAGES.map((l) => (
          <button key={l} type="button" className="chip" aria-pressed={language === l} onClick={() => setLanguage(l)}>
            {l}
          </button>
        ))}
      </div>
      <pre className="snippet json" tabIndex={0} data-testid="snippet" data-language={language} aria-label={`${language} snippet`}>
        {text}
      </pre>
      <div className="actions">
        <button type="button" className="small" onClick={() => void copy()}>
          Copy
        </button>
        <span className="muted" role="status">
          {status}
        </span>
      </div>
    </Section>
  );
}
