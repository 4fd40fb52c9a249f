import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { upgradeHashRoute } from "./router";
import { SessionProvider } from "./session";
import "./style.css";

upgradeHashRoute();
const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root");
createRoot(root).render(
  <StrictMode>
    <SessionProvider>
      <App />
    </SessionProvider>
  </StrictMode>,
);
