// Who is signed in, for every page: the caller's /api/v1/me, or null when
// no session is open (undefined until the first answer).
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { controlPlane, onSessionEnded, setCsrfToken, type Me } from "./api/control-plane";
import { ApiProblem } from "./api/http";
import { navigate } from "./router";
import { home } from "./roles";

export interface Flash {
  /** The page it is shown on (the one the action lands on). */
  path: string;
  text: string;
}

interface Session {
  me: Me | null | undefined;
  /** A problem loading /me other than "not signed in". */
  error: ApiProblem | null;
  /** Logs in and goes to the caller's first page, with `flash` shown there. */
  logIn: (email: string, password: string, flash?: string) => Promise<void>;
  logOut: () => Promise<void>;
  /** Reads /me again (after a change of one's own role or password). */
  refresh: () => Promise<void>;
  flash: Flash | null;
  setFlash: (flash: Flash | null) => void;
}

const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside <SessionProvider>");
  return session;
}

/** The signed-in caller; for pages only rendered with a session. */
export function useMe(): Me {
  const { me } = useSession();
  if (!me) throw new Error("useMe without a session");
  return me;
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [flash, setFlash] = useState<Flash | null>(null);

  const refresh = useCallback(async () => {
    try {
      setMe(await controlPlane.request("GET", "/api/v1/me"));
      setError(null);
    } catch (err) {
      if (err instanceof ApiProblem && err.status === 401) {
        setMe(null);
        setError(null);
      } else {
        setError(err instanceof ApiProblem ? err : new ApiProblem(0, { detail: String(err) }));
      }
    }
  }, []);

  useEffect(() => {
    onSessionEnded(() => {
      setCsrfToken("");
      setMe(null);
    });
    void refresh();
  }, [refresh]);

  const logIn = useCallback(async (email: string, password: string, text?: string) => {
    const res = await controlPlane.request("POST", "/api/v1/login", { body: { email, password } });
    setCsrfToken(res.csrf_token);
    const who = await controlPlane.request("GET", "/api/v1/me");
    setMe(who);
    const target = home(who.role);
    setFlash(text ? { path: target, text } : null);
    navigate(target);
  }, []);

  const logOut = useCallback(async () => {
    try {
      await controlPlane.request("POST", "/api/v1/logout");
    } catch (err) {
      // Already signed out is signed out.
      if (!(err instanceof ApiProblem && err.status === 401)) throw err;
    }
    setCsrfToken("");
    setMe(null);
    setFlash(null);
    navigate("/login");
  }, []);

  const value = useMemo(
    () => ({ me, error, logIn, logOut, refresh, flash, setFlash }),
    [me, error, logIn, logOut, refresh, flash],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}
