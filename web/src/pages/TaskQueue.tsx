// The workers of a task queue, as Temporal's Web UI shows them: the
// pollers DescribeTaskQueue reports for its workflow and its activity tasks
// (identity, when each last polled, its rate limit).
import { type Cell, type CellSchemas } from "../api/cell";
import { WithCell } from "../components/cell-ui";
import { Link } from "../components/Link";
import { DataTable, Page, Section, Show, useLoad, when } from "../components/ui";

type Poller = CellSchemas["PollerInfo"];
type QueueType = "TASK_QUEUE_TYPE_WORKFLOW" | "TASK_QUEUE_TYPE_ACTIVITY";

export function taskQueueUrl(namespace: string, queue: string): string {
  return `/namespaces/${encodeURIComponent(namespace)}/task-queues/${encodeURIComponent(queue)}`;
}

function Pollers({ cell, queue, type, title }: { cell: Cell; queue: string; type: QueueType; title: string }) {
  const [state, reload] = useLoad(
    () =>
      cell.request("GET", "/api/v1/namespaces/{namespace}/task-queues/{task_queue.name}", {
        path: { namespace: cell.namespace, "task_queue.name": queue },
        query: { taskQueueType: type },
      }),
    `${cell.namespace}/${queue}/${type}`,
  );
  const slug = type === "TASK_QUEUE_TYPE_WORKFLOW" ? "workflow" : "activity";
  return (
    <Section title={title} testid={`pollers-${slug}`}>
      <Show state={state} what={`the ${slug} pollers`}>
        {(res) => (
          <DataTable
            caption={title}
            testid={`pollers-${slug}-table`}
            columns={["Identity", "Last access", "Rate per second"]}
            empty={`No worker has polled for ${slug} tasks lately.`}
            rows={(res.pollers ?? []).map((p: Poller, i) => ({
              key: `${p.identity ?? ""}-${i}`,
              cells: [<code>{p.identity}</code>, when(p.lastAccessTime), p.ratePerSecond === undefined ? "" : String(p.ratePerSecond)],
            }))}
          />
        )}
      </Show>
      <button type="button" className="small" onClick={() => void reload()}>
        Refresh
      </button>
    </Section>
  );
}

export function TaskQueuePage({ namespace, queue }: { namespace: string; queue: string }) {
  const back = <Link href={`/namespaces/${encodeURIComponent(namespace)}/workflows`}>← Workflows of {namespace}</Link>;
  return (
    <Page title={`Task queue ${queue}`} back={back}>
      <p className="muted">Workers that polled this task queue recently (DescribeTaskQueue).</p>
      <WithCell namespace={namespace}>
        {(cell) => (
          <>
            <Pollers cell={cell} queue={queue} type="TASK_QUEUE_TYPE_WORKFLOW" title="Workflow workers" />
            <Pollers cell={cell} queue={queue} type="TASK_QUEUE_TYPE_ACTIVITY" title="Activity workers" />
          </>
        )}
      </WithCell>
    </Page>
  );
}
